import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandOk, type RedisCommands } from '../../../shared/redis/resp-client.ts';
import { parseSnapshot, type StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { dockerFromEnv } from '../../harness/docker.ts';
import { AgentProcess, eventually } from '../agent/agent-process.ts';
import { type BackupStack, startBackupStack } from '../backup/backup-stack.ts';
import { startRedis } from './redis-container.ts';

/**
 * The agent's idle stop end to end, with real parts: Dalston's Redis (the
 * harness image, Dalston-shaped streams), its Postgres (the stack's, with
 * `jobs` and `tasks` tables), compose, and the S3 stand-in. The idle window
 * is seconds long (fractional minutes); the power-off command is a script that
 * appends the S3 heartbeat as it is at that moment to a file, so the test sees
 * both that it ran once and what the operator would have read then.
 */

let docker: Docker;
let stack: BackupStack;
let redisBox: Awaited<ReturnType<typeof startRedis>>;
let redis: RedisCommands;
let agent: AgentProcess | undefined;
let marker: string;

const r = (...args: (string | number)[]) => commandOk(redis, args);

async function status(): Promise<StatusSnapshot> {
  const res = await fetch(`http://${stack.agentListen}/status`);
  const p = parseSnapshot(await res.text());
  if (p.kind !== 'ok') throw new Error(p.reason);
  return p.snapshot;
}

const idleState = async (want: string) =>
  eventually(
    async () => {
      const s = await status();
      return s.idle?.state === want && s.idle.checkedAt !== null ? s : null;
    },
    90_000,
    `idle state ${want}`,
  );

beforeAll(async () => {
  docker = dockerFromEnv();
  redisBox = await startRedis(docker);
  redis = redisBox.redis;
  stack = await startBackupStack('idle-stop', {
    idle: {
      // 12 s idle, announced 6 s ahead, polled every second: fractional minutes are for this.
      stopAfterMinutes: 0.2,
      bootGraceMinutes: 0,
      announceMinutes: 0.1,
      pollSeconds: 1,
      redis: `${redisBox.address.host}:${redisBox.address.port}`,
    },
  });
  marker = path.join(stack.dir, 'poweroff.log');
  // The agent's compose calls read the host's generated secrets (shared/engine/compose-cli.ts); this
  // stack's Postgres has its password in the compose file, so the file only has to exist.
  await mkdir(path.join(stack.dir, 'data', 'secrets'), { recursive: true });
  await writeFile(path.join(stack.dir, 'data', 'secrets', 'compose.env'), '', { mode: 0o600 });
  // The power-off: record the S3 heartbeat as stored right now, once per call.
  const cfg = JSON.parse(await readFile(stack.configFile, 'utf8'));
  cfg.idle.powerOffCommand = [
    'sh',
    '-c',
    'for f in $(find "$1" -type f -name "latest.json._S3rver_object"); do cat "$f"; done >> "$2"; echo "--poweroff--" >> "$2"',
    'poweroff',
    stack.s3.dir,
    marker,
  ];
  await writeFile(stack.configFile, JSON.stringify(cfg, null, 2));
  // Dalston's tables (its status values; a text column is enough for the counts).
  await stack.psql('CREATE TABLE jobs (id serial primary key, status text not null)');
  await stack.psql('CREATE TABLE tasks (id serial primary key, job_id int, status text not null)');
}, 900_000);

afterAll(async () => {
  await agent?.ensureDead();
  await redisBox?.remove();
  await stack?.stop();
}, 120_000);

describe('idle stop with the real agent, Redis, Postgres and compose', () => {
  it('stays busy on a pending job and a stream backlog, announces when idle, cancels on a new job, then stops the stack and powers off once after the final heartbeat', async () => {
    await stack.psql("INSERT INTO jobs (status) VALUES ('pending')");
    await r('XGROUP', 'CREATE', 'dalston:stream:faster-whisper', 'engines', '$', 'MKSTREAM');
    await r('XADD', 'dalston:stream:faster-whisper', '*', 'task_id', 't1');

    agent = new AgentProcess(stack.configFile, stack.env);
    await agent.waitForLine((l) => l.msg === 'agent ready', 300_000, 'agent ready');
    const busy = await idleState('busy');
    expect(busy.idle!.reasons).toEqual(
      expect.arrayContaining(['database jobs: 1 pending', 'queue faster-whisper: 1 waiting, 0 in progress']),
    );

    // The job runs: the engine takes the entry (pending, in progress) and the job row says running.
    await r(
      'XREADGROUP',
      'GROUP',
      'engines',
      'w1',
      'COUNT',
      1,
      'STREAMS',
      'dalston:stream:faster-whisper',
      '>',
    );
    await stack.psql("UPDATE jobs SET status = 'running'");
    await eventually(
      async () => {
        const s = await status();
        return s.idle?.reasons.includes('queue faster-whisper: 0 waiting, 1 in progress') &&
          s.idle.reasons.includes('database jobs: 1 running')
          ? s
          : null;
      },
      // Generous: on the shared 2-core machine a poll's psql exec has taken seconds.
      90_000,
      'the job in progress',
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}; idle: ${JSON.stringify((await status()).idle)}`);
    });
    // Done: acknowledged, completed.
    const [id] = (await r('XRANGE', 'dalston:stream:faster-whisper', '-', '+')) as [[string, unknown]];
    await r('XACK', 'dalston:stream:faster-whisper', 'engines', id[0]);
    await stack.psql("UPDATE jobs SET status = 'completed'");
    await idleState('idle');
    const announced = await idleState('announce');
    expect(announced.idle!.summary).toMatch(/^idle \d+ min — stopping in \d+ min$/);

    // A job arriving in the countdown cancels the stop.
    await stack.psql("INSERT INTO jobs (status) VALUES ('pending')");
    await agent.waitForLine(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('stop cancelled: database jobs: 1 pending'),
      30_000,
      'stop cancelled',
    );
    // /status follows within the publisher's debounce.
    expect((await idleState('busy')).idle!.reasons).toContain('database jobs: 1 pending');
    await stack.psql("UPDATE jobs SET status = 'completed'");

    const exit = await Promise.race([
      agent.exit,
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('agent did not stop itself')), 180_000)),
    ]);
    expect(exit, agent.tail(15)).toEqual({ code: 0, signal: null });

    // Powered off exactly once, and by then the heartbeat in S3 said why.
    const log = await readFile(marker, 'utf8');
    expect(log.match(/--poweroff--/g)).toHaveLength(1);
    const atPowerOff = parseSnapshot(log.split('--poweroff--')[0]!.trim());
    if (atPowerOff.kind !== 'ok') throw new Error(atPowerOff.reason);
    expect(atPowerOff.snapshot.state).toBe('stopping');
    expect(atPowerOff.snapshot.shutdown).toMatchObject({ reason: 'idle' });
    expect(atPowerOff.snapshot.shutdown!.detail).toMatch(/^idle since /);
    expect(atPowerOff.snapshot.idle!.state).toBe('stopping');

    // The stack was stopped gracefully first: every container exited, Postgres shut down cleanly.
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`com.docker.compose.project=${stack.project}`] },
    });
    expect(containers.length).toBeGreaterThan(0);
    expect(containers.filter((c) => c.State === 'running').map((c) => c.Names)).toEqual([]);
    const pg = containers.find((c) => c.Labels['com.docker.compose.service'] === 'postgres')!;
    const pgLog = (await docker.getContainer(pg.Id).logs({ stdout: true, stderr: true })).toString();
    expect(pgLog).toContain('database system is shut down');
    expect(agent.lines.some((l) => l.msg === 'idle stop: powering the host off')).toBe(true);
  }, 600_000);
});
