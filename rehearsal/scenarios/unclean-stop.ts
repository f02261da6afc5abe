/**
 * Power lost with the stack running (the agent never stopped it), then a boot
 * where the data volume attaches 30 s late. dockerd restarts the containers of
 * an unclean stop at its start, before the agent runs: none with a bind under
 * /data may start before the volume is mounted, nothing may land on the root
 * disk's /data, and once the volume is there the stack is healthy on its data.
 * Needs the machine powered off; powers it off again.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fail } from '../checks.ts';
import { DATA_DIR, info, PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import type { Machine } from '../machine/nspawn.ts';
import { unitProps, waitUnit } from '../machine/systemd.ts';
import { containerOf, describeSnapshot, projectContainers } from '../product/observe.ts';
import { sleep } from '../wait.ts';
import { expectedMarksDigest, MARK_ROWS, parseMarks, psqlIn, READ_MARKS_SQL } from '../world/db-images.ts';

const BOOT = 'unclean stop';
const LATE = 'late volume';
/** How late the volume attaches: well inside fstab's 90 s device timeout, so systemd's mount waits for it. */
const LATE_MS = 30_000;
const MARKER_TABLE = 'rehearsal_unclean_stop';

/** What the machine looked like while it booted without its volume (sampled every second). */
interface Window {
  samples: number;
  violations: string[];
  attachedAtMs: number;
}

/** One look inside the machine: /data must be an empty non-mount-point and no container may run. */
async function sample(m: Machine): Promise<string[]> {
  const out: string[] = [];
  if ((await m.exec('mountpoint', ['-q', DATA_DIR], { timeoutMs: 10_000 })).exitCode === 0)
    out.push(`${DATA_DIR} mounted before the volume was attached`);
  const files = (await m.exec('find', [DATA_DIR, '-mindepth', '1'], { timeoutMs: 10_000 })).stdout.trim();
  if (files)
    out.push(`written under the root disk's ${DATA_DIR}: ${files.split('\n').slice(0, 3).join(', ')}`);
  // dockerd not started yet (ordered after the data mount) is "nothing running"; `docker ps` is not
  // asked then: through docker.socket it would wait for that start.
  const dockerd = await m.exec('systemctl', ['is-active', 'docker.service'], { timeoutMs: 10_000 });
  if (dockerd.stdout.trim() !== 'active') return out;
  const ps = await m.exec('docker', ['ps', '--format', '{{.Names}}'], { timeoutMs: 10_000 });
  if (ps.exitCode === 0 && ps.stdout.trim())
    out.push(`running before the volume: ${ps.stdout.trim().split('\n').join(', ')}`);
  return out;
}

export const uncleanStop: Scenario = {
  name: BOOT,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    const marker = `${ctx.nonce}-before-power-loss`;
    await ctx.must('unclean stop: the machine boots and the stack is healthy', async () => {
      const m = await ctx.boot(BOOT, { volume: true });
      return describeSnapshot(await ctx.waitHealthy(m, 5 * 60_000));
    });
    const m = ctx.runningMachine(BOOT);

    await ctx.must('unclean stop: power lost with the stack running (the agent never stops it)', async () => {
      const pg = await containerOf(m, PROJECT, 'postgres');
      await psqlIn(
        m,
        pg.id,
        `CREATE TABLE IF NOT EXISTS ${MARKER_TABLE} (v text); INSERT INTO ${MARKER_TABLE} VALUES ('${marker}')`,
      );
      const running = (await projectContainers(m, PROJECT)).filter((c) => c.running).length;
      // SIGKILL to the machine's PID 1: no shutdown, no ExecStop, the containers are "running" in dockerd's state.
      await m.kill();
      ctx.machine = undefined;
      return `marker row written, ${running} containers running, machine killed`;
    });

    const window: Window = { samples: 0, violations: [], attachedAtMs: 0 };
    await ctx.must(
      `late volume: the machine boots; the volume is attached ${LATE_MS / 1000} s later`,
      async () => {
        await ctx.boot(LATE, {
          volume: false,
          whileBooting: async (late) => {
            const until = Date.now() + LATE_MS;
            while (Date.now() < until) {
              window.violations.push(...(await sample(late)));
              window.samples++;
              await sleep(1000);
            }
            window.attachedAtMs = Date.now();
            await ctx.attachVolume(late);
            info(`late volume: ${w.loop.device} attached`);
          },
        });
        return `${w.loop.device} attached after ${LATE_MS / 1000} s; dockerd active`;
      },
    );
    const late = ctx.runningMachine(LATE);

    await ctx.check(`late volume: nothing ran or was written before the volume arrived`, async () => {
      if (window.violations.length > 0) fail([...new Set(window.violations)].slice(0, 3).join(' / '));
      return `${window.samples} samples over ${LATE_MS / 1000} s: ${DATA_DIR} empty and unmounted, no container running`;
    });

    await ctx.check('late volume: systemd mounted the volume once it arrived', async () => {
      const p = await waitUnit(
        late,
        'data.mount',
        ['ActiveState', 'What'],
        (x) => x.ActiveState === 'active',
        {
          what: 'data.mount active',
          timeoutMs: 180_000,
        },
      );
      const src = (
        await late.execChecked('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', DATA_DIR])
      ).trim();
      if (src !== w.loop.device) fail(`${DATA_DIR} has "${src}" mounted, expected ${w.loop.device}`);
      const docker = await unitProps(late, 'docker.service', ['ActiveEnterTimestampMonotonic']);
      const mount = await unitProps(late, 'data.mount', ['ActiveEnterTimestampMonotonic']);
      const d = Number(docker.ActiveEnterTimestampMonotonic) - Number(mount.ActiveEnterTimestampMonotonic);
      if (!(d >= 0)) fail(`docker.service became active ${(-d / 1e6).toFixed(1)} s before data.mount`);
      return `data.mount (${p.What}); docker.service active ${(d / 1e6).toFixed(1)} s after it`;
    });

    await ctx.check('late volume: the stack is healthy again', async () => {
      return describeSnapshot(await ctx.waitHealthy(late, 5 * 60_000));
    });

    await ctx.check('late volume: no container with a /data bind started before the volume', async () => {
      const ids = (
        await late.execChecked('docker', [
          'ps',
          '-aq',
          '--filter',
          `label=com.docker.compose.project=${PROJECT}`,
        ])
      )
        .split('\n')
        .filter(Boolean);
      const fmt = `{{.Name}} {{.State.StartedAt}} {{range .Mounts}}{{if eq .Type "bind"}}{{.Source}},{{end}}{{end}}`;
      const rows = (await late.execChecked('docker', ['inspect', '--format', fmt, ...ids]))
        .split('\n')
        .filter(Boolean);
      const bound = rows
        .map((r) => r.split(' '))
        .filter(([, , binds = '']) =>
          binds.split(',').some((b) => b === DATA_DIR || b.startsWith(`${DATA_DIR}/`)),
        );
      if (bound.length === 0) fail('no container of the stack binds anything under /data');
      const early = bound.filter(([, startedAt = '']) => Date.parse(startedAt) < window.attachedAtMs);
      if (early.length > 0)
        fail(`started before the volume was attached: ${early.map((b) => b[0]).join(', ')}`);
      return `${bound.length} containers with a bind under ${DATA_DIR}, all started after the volume arrived`;
    });

    await ctx.check("late volume: nothing under the root disk's /data", async () => {
      // The machine's root disk is the rootfs directory on this host: its /data under the mount.
      const names = await readdir(path.join(w.rootfs, DATA_DIR.slice(1)));
      if (names.length > 0) fail(`the root disk's ${DATA_DIR} holds ${names.slice(0, 5).join(', ')}`);
      return `the root disk's ${DATA_DIR} is empty`;
    });

    await ctx.check("late volume: the volume's data is the one from before the power loss", async () => {
      const pg = await containerOf(late, PROJECT, 'postgres');
      const got = (await psqlIn(late, pg.id, `SELECT v FROM ${MARKER_TABLE}`)).trim();
      if (got !== marker) fail(`marker table holds "${got}", expected "${marker}"`);
      const marks = parseMarks(await psqlIn(late, pg.id, READ_MARKS_SQL));
      if (marks.count !== MARK_ROWS || marks.digest !== expectedMarksDigest(ctx.nonce))
        fail(`read ${marks.count} rows (digest ${marks.digest}); the first boot wrote ${MARK_ROWS}`);
      return `marker written before the power loss read back; ${marks.count} first-boot rows intact`;
    });

    await ctx.powerOff(late, LATE);
  },
};
