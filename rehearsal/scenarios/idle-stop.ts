/**
 * Idle stop: with `idle.stopAfterMinutes` shortened in host.json, the machine
 * stays up while Dalston has a queue entry waiting, and powers itself off
 * once everything is idle: the agent announces, stops the stack (Postgres
 * shuts down cleanly), writes the final heartbeat saying why, then runs
 * `systemctl poweroff`. Needs the main machine powered off; leaves it powered
 * off, with the shortened window in its host.json (no later scenario boots it).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DESIRED_STATE_KEY } from '../../shared/desired/desired-state.ts';
import { parseSnapshot } from '../../shared/status/snapshot.ts';
import { clusterState } from '../../test/harness/postgres-state.ts';
import { fail } from '../checks.ts';
import { Abort, PG_DATA_ON_VOLUME, PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import { agentStatus, containerOf, isSnapshot } from '../product/observe.ts';
import { patchDesiredState } from '../product/user-data.ts';
import { sleep, waitFor } from '../wait.ts';
import { containerLog, controlDataOnVolume, psqlIn } from '../world/db-images.ts';
import { latestSnapshotFile } from '../world/s3.ts';

const BOOT = 'idle stop';
/** Seconds-long windows (fractional minutes): 30 s idle, the last 15 s announced, a poll every 5 s. */
export const IDLE_SETTINGS = {
  stopAfterMinutes: 0.5,
  bootGraceMinutes: 0,
  announceMinutes: 0.25,
  pollSeconds: 5,
};
const STREAM = 'dalston:stream:faster-whisper';
/** Dalston's tables as its migrations leave them, as far as the agent reads them. */
const TABLES_SQL =
  'CREATE TABLE IF NOT EXISTS jobs (id serial primary key, status text not null); CREATE TABLE IF NOT EXISTS tasks (id serial primary key, job_id int, status text not null)';
const SHUT_DOWN = /database system is shut down/g;

export const idleStop: Scenario = {
  name: BOOT,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    // A host setting changed the way an operator changes it: a new desired state in S3,
    // which the powered-off host follows at its next boot (the bootstrap's desired step).
    await ctx.must('idle stop: a new desired state shortens the idle window', async () => {
      const desired = path.join(ctx.runDir, 'desired-state-idle.json');
      await writeFile(
        desired,
        patchDesiredState(w.desiredState, (h) => ({
          ...h,
          idle: { ...(h.idle as object), ...IDLE_SETTINGS },
        })),
      );
      await w.s3.put(DESIRED_STATE_KEY, desired);
      return Object.entries(IDLE_SETTINGS)
        .map(([k, v]) => `idle.${k} ${v}`)
        .join(', ');
    });
    await ctx.must('idle stop: the machine boots', async () => {
      const m = await ctx.boot(BOOT, { volume: true });
      return `PID 1 is ${m.leader} on the host`;
    });
    const m = ctx.runningMachine(BOOT);
    await ctx.must('idle stop: the stack is healthy', async () => {
      await ctx.waitHealthy(m, 5 * 60_000);
      return 'healthy';
    });
    await ctx.check('idle stop: the boot followed the desired state into host.json', async () => {
      // Read on the root disk from outside: the machine may already be on its way down.
      const cfg = JSON.parse(await readFile(path.join(w.rootfs, 'etc/dalston/host.json'), 'utf8')) as {
        idle?: Record<string, unknown>;
      };
      for (const [k, v] of Object.entries(IDLE_SETTINGS))
        if (cfg.idle?.[k] !== v) fail(`host.json idle.${k} is ${String(cfg.idle?.[k])}, not ${v}`);
      return `host.json idle ${JSON.stringify(cfg.idle)}`;
    });

    const pg = await containerOf(m, PROJECT, 'postgres');
    const redis = await containerOf(m, PROJECT, 'redis');
    const redisCli = (...args: string[]) => m.execChecked('docker', ['exec', redis.id, 'redis-cli', ...args]);
    await ctx.must('idle stop: Dalston tables in Postgres, a waiting entry in a Redis queue', async () => {
      await psqlIn(m, pg.id, TABLES_SQL);
      await redisCli('XGROUP', 'CREATE', STREAM, 'engines', '$', 'MKSTREAM');
      const id = (await redisCli('XADD', STREAM, '*', 'task_id', 'rehearsal')).trim();
      return `jobs and tasks created; ${STREAM} entry ${id}, group engines, not yet delivered`;
    });
    const shutdownsBefore = ((await containerLog(m, pg.id)).match(SHUT_DOWN) ?? []).length;

    await ctx.must('idle stop: a waiting queue entry keeps the host up', async () => {
      // Twice the idle window and then some: a host that would stop has stopped by then.
      await sleep(75_000);
      if (!m.running) fail('the machine powered off with a queue entry waiting');
      const s = await agentStatus(m);
      if (!isSnapshot(s)) fail(`/status: ${s.error}`);
      if (
        s.idle?.state !== 'busy' ||
        !s.idle.reasons.some((r) => r.startsWith('queue faster-whisper: 1 waiting'))
      )
        fail(`/status idle: ${JSON.stringify(s.idle)}`);
      return `still up after 75 s; /status idle: ${s.idle.summary}`;
    });

    await ctx.check('idle stop: once idle, the stop is announced (status, systemctl status)', async () => {
      // The engine took the entry and acknowledged it: nothing waiting, nothing in progress.
      await redisCli('XREADGROUP', 'GROUP', 'engines', 'rehearsal', 'COUNT', '1', 'STREAMS', STREAM, '>');
      const [id] = (await redisCli('XRANGE', STREAM, '-', '+')).trim().split('\n');
      await redisCli('XACK', STREAM, 'engines', id!.trim());
      let last = '';
      return waitFor(
        'the agent announcing the stop',
        90_000,
        async () => {
          const s = await agentStatus(m);
          last = isSnapshot(s) ? JSON.stringify(s.idle) : s.error;
          if (!isSnapshot(s) || s.idle?.state !== 'announce') return undefined;
          const st = (await m.exec('systemctl', ['status', '--no-pager', '--lines=0', 'dalston.service']))
            .stdout;
          const line = /Status: "(.*)"/.exec(st)?.[1] ?? '';
          return `/status: ${s.idle.summary}; systemctl status: "${line}"`;
        },
        () => last,
        1000,
      );
    });

    await ctx.must('idle stop: the machine powers itself off', async () => {
      const t0 = Date.now();
      const code = await Promise.race([m.exited, sleep(4 * 60_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') fail('still running 4 min after the stop was announced');
      if (ctx.machine === m) ctx.machine = undefined;
      return `systemd-nspawn exited (${code}) ${((Date.now() - t0) / 1000).toFixed(1)} s after the announcement was seen`;
    });

    await ctx.check('idle stop: Postgres shut down cleanly first', async () => {
      const out = await controlDataOnVolume(ctx.shell, w.dbRootfs, w.loop.device, PG_DATA_ON_VOLUME);
      const state = clusterState(out);
      if (state !== 'shut down')
        fail(`pg_controldata on the volume: "Database cluster state: ${state ?? '?'}"`);
      // Its log, from dockerd's json-file on the machine's root disk.
      const logFile = path.join(w.rootfs, 'var', 'lib', 'docker', 'containers', pg.id, `${pg.id}-json.log`);
      const after = ((await readFile(logFile, 'utf8')).match(SHUT_DOWN) ?? []).length;
      if (after <= shutdownsBefore)
        fail(
          `no new "database system is shut down" in Postgres's log (${after} in all, ${shutdownsBefore} before)`,
        );
      return 'pg_controldata: shut down; its log: database system is shut down';
    });

    await ctx.check('idle stop: the final heartbeat in S3 says the host stopped idle', async () => {
      const file = await latestSnapshotFile(w.s3.dir);
      if (!file) fail(`no latest.json under the S3 stand-in's ${w.s3.dir}`);
      const p = parseSnapshot(await readFile(file, 'utf8'));
      if (p.kind !== 'ok') fail(`the last snapshot: ${p.reason}`);
      const s = p.snapshot;
      if (s.shutdown?.reason !== 'idle' || s.state !== 'stopping')
        fail(`the last snapshot: state ${s.state}, shutdown ${JSON.stringify(s.shutdown ?? null)}`);
      return `state stopping, shutdown: ${s.shutdown.reason} (${s.shutdown.detail})`;
    });
    if (m.running) throw new Abort(BOOT);
  },
};
