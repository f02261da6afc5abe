/**
 * `npm run bench:idle`: what idle polling costs the agent. Three agents (the
 * release bundle, dalston.service's environment) supervise the same stack side
 * by side — real Postgres and Redis (the harness images) holding Dalston-shaped
 * state, S3 through s3rver — one with idle stop off (`stopAfterMinutes: 0`), one
 * polling at the default 30 s and one at 5 s (to measure a poll's cost above
 * the noise). CPU (utime+stime) and RSS from /proc over the same window;
 * the extra is the difference to the agent with idle stop off.
 * Target: < 0.2 % of a core and < 3 MB at the default poll interval.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { commandOk } from '../shared/redis/resp-client.ts';
import setup from '../test/harness/global-setup.ts';
import { AgentProcess } from '../test/integration/agent/agent-process.ts';
import { startBackupStack } from '../test/integration/backup/backup-stack.ts';
import { startRedis } from '../test/integration/idle/redis-container.ts';
import { machineInfo, round } from './machine-info.ts';
import { buildRelease, unitEnvironment } from './release-bundle.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const WINDOW_S = Number(process.env.IDLE_BENCH_WINDOW_SECONDS ?? 300);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

async function usage(pid: number): Promise<{ rssMB: number; cpuSeconds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return { rssMB: rssKB / 1024, cpuSeconds: (Number(stat[11]) + Number(stat[12])) / 100 };
}

async function main() {
  const started = Date.now();
  const teardown = await setup({ provide() {} } as never);
  const docker = new Docker();
  const results: Record<string, unknown> = {
    generatedAt: new Date().toISOString(),
    machine: machineInfo(),
  };
  const agents: { name: string; p: AgentProcess }[] = [];
  const redisBox = await startRedis(docker);
  const stack = await startBackupStack('idle-bench');
  try {
    const bundle = buildRelease();
    // The agent's compose calls read the host's generated secrets; this stack needs none, only the file.
    await mkdir(join(stack.dir, 'data', 'secrets'), { recursive: true });
    await writeFile(join(stack.dir, 'data', 'secrets', 'compose.env'), '', { mode: 0o600 });
    // Dalston-shaped state to read every poll: two engine streams with their group, a finished
    // entry, an engine heartbeat; jobs and tasks tables with finished rows.
    const r = (...a: (string | number)[]) => commandOk(redisBox.redis, a);
    for (const engine of ['audio-prepare', 'faster-whisper']) {
      await r('XGROUP', 'CREATE', `dalston:stream:${engine}`, 'engines', '$', 'MKSTREAM');
      await r('XADD', `dalston:stream:${engine}`, '*', 'task_id', 'done');
      await r('XREADGROUP', 'GROUP', 'engines', 'w', 'COUNT', 1, 'STREAMS', `dalston:stream:${engine}`, '>');
      const [[id]] = (await r('XRANGE', `dalston:stream:${engine}`, '-', '+')) as [[string]];
      await r('XACK', `dalston:stream:${engine}`, 'engines', id);
      await r(
        'HSET',
        `dalston:engine:instance:${engine}-1`,
        'active_batch',
        0,
        'active_realtime',
        0,
        'status',
        'idle',
      );
    }
    await stack.psql('CREATE TABLE jobs (id serial primary key, status text not null)');
    await stack.psql('CREATE TABLE tasks (id serial primary key, job_id int, status text not null)');
    await stack.psql("INSERT INTO jobs (status) SELECT 'completed' FROM generate_series(1, 1000)");
    await stack.psql(
      "INSERT INTO tasks (job_id, status) SELECT g, 'completed' FROM generate_series(1, 3000) g",
    );

    const base = JSON.parse(await readFile(stack.configFile, 'utf8'));
    const variants = [
      { name: 'off', idle: { stopAfterMinutes: 0 } },
      { name: 'poll30s', idle: { stopAfterMinutes: 600, pollSeconds: 30 } },
      { name: 'poll5s', idle: { stopAfterMinutes: 600, pollSeconds: 5 } },
    ];
    for (const v of variants) {
      const cfg = {
        ...base,
        agent: { ...base.agent, listen: `127.0.0.1:${await freePort()}`, reconcileIntervalSeconds: 30 },
        idle: { ...v.idle, redis: `${redisBox.address.host}:${redisBox.address.port}` },
      };
      const file = join(stack.dir, `host-${v.name}.json`);
      await writeFile(file, JSON.stringify(cfg, null, 2));
      agents.push({
        name: v.name,
        p: new AgentProcess(file, { ...stack.env, ...unitEnvironment(), LOG_LEVEL: 'info' }, bundle),
      });
    }
    for (const a of agents) await a.p.waitForLine((l) => l.msg === 'agent ready', 300_000, `${a.name} ready`);
    // Startup settles (module loading, the first uploads and GC), then one window for all three.
    await sleep(30_000);
    const u0 = await Promise.all(agents.map((a) => usage(a.p.pid)));
    log(`measuring ${WINDOW_S} s`);
    await sleep(WINDOW_S * 1000);
    const u1 = await Promise.all(agents.map((a) => usage(a.p.pid)));
    const per = Object.fromEntries(
      agents.map((a, i) => [
        a.name,
        {
          cpuPercentOfOneCore: round(((u1[i]!.cpuSeconds - u0[i]!.cpuSeconds) / WINDOW_S) * 100, 3),
          rssMB: round(u1[i]!.rssMB, 1),
        },
      ]),
    );
    results.windowSeconds = WINDOW_S;
    results.agents = per;
    const off = per.off!;
    const extra = (name: string) => ({
      cpuPercentOfOneCore: round(per[name]!.cpuPercentOfOneCore - off.cpuPercentOfOneCore, 3),
      rssMB: round(per[name]!.rssMB - off.rssMB, 1),
    });
    results.extraOverOff = { poll30s: extra('poll30s'), poll5s: extra('poll5s') };
    const polls5 = WINDOW_S / 5;
    results.cpuMsPerPoll = round(
      ((u1[2]!.cpuSeconds - u0[2]!.cpuSeconds - (u1[0]!.cpuSeconds - u0[0]!.cpuSeconds)) * 1000) / polls5,
      1,
    );
    const e30 = results.extraOverOff as { poll30s: { cpuPercentOfOneCore: number; rssMB: number } };
    results.targets = {
      'extra CPU at the default 30-s poll < 0.2 % of a core': e30.poll30s.cpuPercentOfOneCore < 0.2,
      'extra RSS < 3 MB': e30.poll30s.rssMB < 3,
    };
    results.note =
      'CPU is utime+stime of the agent process only; the psql exec runs in the Postgres container (dockerd and the container pay for it, not the agent).';
  } finally {
    for (const a of agents) a.p.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.p.exit));
    await redisBox.remove();
    await stack.stop();
    // The shared daemon's teardown has failed on a busy netns file; the measurement stands regardless.
    await teardown().catch((err: unknown) => log(`harness teardown: ${(err as Error).message}`));
  }
  results.runtimeSeconds = Math.round((Date.now() - started) / 1000);
  results.loadAverageAtEnd = os.loadavg().map((l) => round(l, 2));
  await writeFile(join(root, 'bench/results/idle.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
process.exit(0);
