import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { policyFromConfig } from '../agent/supervisor/policy.ts';
import { Supervisor } from '../agent/supervisor/supervisor.ts';
import { parseConfig } from '../shared/config/load.ts';
import { ComposeCli } from '../shared/engine/compose-cli.ts';
import { DockerodeClient, type DockerodeLike } from '../shared/engine/docker/dockerode-client.ts';
import { createLogger } from '../shared/logger.ts';
import { ZxShell } from '../shared/shell.ts';
import { removeComposeProject } from '../test/harness/docker.ts';
import setup from '../test/harness/global-setup.ts';
import { writeHostSecrets } from '../test/harness/host-secrets.ts';
import { AgentProcess, type LogLine } from '../test/integration/agent/agent-process.ts';
import { machineInfo, round } from './machine-info.ts';
import { pollRestart } from './poll-restart.ts';
import { buildRelease, unitEnvironment } from './release-bundle.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

function stackFile(image: string, n: number, withHealth: boolean, prefix: string) {
  const services: Record<string, unknown> = {};
  for (let i = 1; i <= n; i++) {
    services[`${prefix}-${i}`] = {
      image,
      pull_policy: 'never',
      restart: 'unless-stopped',
      stop_grace_period: '3s',
      command: ['sh', '-c', 'trap "exit 0" TERM; touch /tmp/healthy; while :; do sleep 1; done'],
      ...(withHealth
        ? {
            healthcheck: {
              test: ['CMD', 'test', '-f', '/tmp/healthy'],
              interval: '1s',
              timeout: '1s',
              retries: 1,
            },
          }
        : {}),
    };
  }
  return { services };
}

/** The release bundle as the agent, with dalston.service's environment, plus /proc readings. */
class AgentChild extends AgentProcess {
  constructor(bundle: string, config: string) {
    super(config, { ...unitEnvironment(), LOG_LEVEL: 'info' }, bundle);
  }
  waitFor(msg: string, timeoutMs: number): Promise<LogLine> {
    return this.waitForLine((l) => l.msg === msg, timeoutMs, msg);
  }
  /** VmRSS in MB and utime+stime in seconds. */
  async usage(): Promise<{ rssMB: number; cpuSeconds: number }> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const rssKB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    const stat = (await readFile(`/proc/${this.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    const ticks = Number(stat[11]) + Number(stat[12]);
    return { rssMB: rssKB / 1024, cpuSeconds: ticks / 100 };
  }
  async stop(): Promise<number | null> {
    this.kill('SIGTERM');
    return (await this.exit).code;
  }
}

async function statusLoad(url: string, clients: number, perClient: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const times: number[] = [];
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const t0 = performance.now();
      request(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          times.push(performance.now() - t0);
          resolve();
        });
      })
        .on('error', reject)
        .end();
    });
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < perClient; i++) await one();
    }),
  );
  agent.destroy();
  return times;
}

/**
 * Waits until every container is running and healthy again (a round's trigger
 * execs into them; after the previous round's restart they may still be
 * starting, more so on a loaded machine). False after `timeoutMs`.
 */
async function untilHealthy(docker: Docker, ids: readonly string[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(
      ids.map((id) =>
        docker
          .getContainer(id)
          .inspect()
          .then((i) => i.State.Running && i.State.Health?.Status === 'healthy')
          .catch(() => false),
      ),
    );
    if (states.every(Boolean)) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

/**
 * `--quick`: only the latency rounds of the agent and the polling baseline
 * (a check of the baseline loop, about two minutes); nothing is written to
 * bench/results/agent.json.
 */
const quick = process.argv.includes('--quick');

async function main() {
  const started = Date.now();
  const teardown = await setup({ provide() {} } as never);
  const image = process.env.DALSTON_TEST_IMAGE!;
  const docker = new Docker();
  const dir = await mkdtemp(join(os.tmpdir(), 'dh-agent-bench-'));
  const tag = Math.random().toString(16).slice(2, 6);
  const projects = {
    agent: `dhbench-agent-${tag}`,
    poll: `dhbench-poll-${tag}`,
    many: `dhbench-many-${tag}`,
  };
  const children: AgentChild[] = [];
  const gateway = createServer((_q, r) => r.end('ok'));
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
  const gwUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/health`;
  const results: Record<string, unknown> = {
    generatedAt: new Date().toISOString(),
    machine: machineInfo(),
  };
  try {
    const bundle = buildRelease();
    const writeStack = async (name: string, file: object) => {
      const work = join(dir, name);
      await mkdir(work, { recursive: true });
      await writeFile(join(work, 'docker-compose.yml'), JSON.stringify(file));
      return work;
    };
    await writeHostSecrets(dir);
    const writeConfig = async (name: string, project: string, work: string) => {
      const file = join(dir, `${name}.json`);
      await writeFile(
        file,
        JSON.stringify({
          dataDir: dir,
          compose: { project, workingDir: work, files: ['docker-compose.yml'] },
          agent: {
            listen: '127.0.0.1:0',
            stateDir: join(dir, `${name}-state`),
            requireDataMount: false,
            gatewayUrl: gwUrl,
            restartBudget: { max: 1000, windowSeconds: 900 },
            backoff: { initialSeconds: 1, maxSeconds: 1, resetAfterHealthySeconds: 600 },
            stopGraceSeconds: 5,
          },
        }),
      );
      return file;
    };

    // --- 6 supervised services, and 6 under a 5-s polling loop -------------------------
    const agentWork = await writeStack('agent', stackFile(image, 6, true, 'svc'));
    const pollWork = await writeStack('poll', stackFile(image, 6, true, 'svc'));
    const pollCompose = new ComposeCli(new ZxShell(), {
      project: projects.poll,
      workingDir: pollWork,
      files: ['docker-compose.yml'],
      profiles: [],
      envFiles: [],
    });
    log('starting the agent on 6 services and the polling stack');
    const agent = new AgentChild(bundle, await writeConfig('agent', projects.agent, agentWork));
    children.push(agent);
    const listening = await agent.waitFor('status endpoint listening', 60_000);
    await Promise.all([agent.waitFor('agent ready', 180_000), pollCompose.up([])]);
    const statusUrl = `http://${listening.address as string}/status`;

    // Let healthchecks settle (the latency rounds need it too).
    await sleep(10_000);
    if (!quick) {
      // Idle: measure over a window.
      const windowS = 30;
      const u0 = await agent.usage();
      await sleep(windowS * 1000);
      const u1 = await agent.usage();
      results.idle6 = {
        rssMB: round(u1.rssMB),
        cpuPercentOfOneCore: round(((u1.cpuSeconds - u0.cpuSeconds) / windowS) * 100, 2),
        windowSeconds: windowS,
      };
      log(`idle 6 services: ${JSON.stringify(results.idle6)}`);

      // /status under 50 concurrent clients.
      const times = await statusLoad(statusUrl, 50, 100);
      results.status = {
        clients: 50,
        requests: times.length,
        p50Ms: round(pct(times, 50), 2),
        p99Ms: round(pct(times, 99), 2),
        maxMs: round(Math.max(...times), 2),
      };
      log(`/status: ${JSON.stringify(results.status)}`);
    }

    // Latency: record unhealthy events of both projects, trigger, compare.
    const unhealthyAt = new Map<string, number>(); // container id → event time (ms, from timeNano)
    const events = (await docker.getEvents({
      filters: { type: ['container'], event: ['health_status'] },
    })) as NodeJS.ReadableStream;
    let evBuf = '';
    events.on('data', (c: Buffer) => {
      evBuf += c.toString();
      let nl = evBuf.indexOf('\n');
      while (nl !== -1) {
        const e = JSON.parse(evBuf.slice(0, nl));
        evBuf = evBuf.slice(nl + 1);
        if (e.Action === 'health_status: unhealthy') unhealthyAt.set(e.Actor.ID, e.timeNano / 1e6);
        nl = evBuf.indexOf('\n');
      }
    });
    const pollRestarts: Array<{ id: string; at: number }> = [];
    let polling = true;
    const pollLoop = (async () => {
      // What autoheal does: every 5 s, list unhealthy containers and restart them.
      while (polling) {
        const list = await docker.listContainers({
          filters: { health: ['unhealthy'], label: [`com.docker.compose.project=${projects.poll}`] },
        });
        for (const c of list) {
          // The call's time is what is measured, whether or not the container is still there.
          pollRestarts.push({ id: c.Id, at: Date.now() });
          if ((await pollRestart(docker.getContainer(c.Id), 3)) === 'going away')
            log(`polling baseline: ${c.Id.slice(0, 12)} is being removed; listed again at the next poll`);
        }
        await sleep(5_000);
      }
    })();
    const byService = async (project: string) =>
      (await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`] } })).map(
        (c) => c.Id,
      );
    const agentIds = await byService(projects.agent);
    const pollIds = await byService(projects.poll);
    const rounds = 8;
    const agentLat: number[] = [];
    const pollLat: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const a = agentIds[i % agentIds.length]!;
      const p = pollIds[i % pollIds.length]!;
      if (!(await untilHealthy(docker, [a, p], 60_000))) {
        log(`latency round ${i + 1}: skipped, its containers were not healthy again within 60 s`);
        continue;
      }
      const linesBefore = agent.lines.length;
      const pollBefore = pollRestarts.length;
      unhealthyAt.delete(a);
      unhealthyAt.delete(p);
      for (const id of [a, p]) {
        const ex = await docker.getContainer(id).exec({ Cmd: ['rm', '-f', '/tmp/healthy'] });
        await ex.start({});
      }
      const end = Date.now() + 30_000;
      let agentDone = false;
      let pollDone = false;
      while (Date.now() < end && !(agentDone && pollDone)) {
        await sleep(100);
        const line = agent.lines
          .slice(linesBefore)
          .find((l) => l.action === 'restart' && l.containerId === a);
        if (!agentDone && line && unhealthyAt.has(a)) {
          agentLat.push(Date.parse(line.time as string) - unhealthyAt.get(a)!);
          agentDone = true;
        }
        const pr = pollRestarts.slice(pollBefore).find((r) => r.id === p);
        if (!pollDone && pr && unhealthyAt.has(p)) {
          pollLat.push(pr.at - unhealthyAt.get(p)!);
          pollDone = true;
        }
      }
      log(`latency round ${i + 1}: agent ${agentLat.at(-1) ?? '-'} ms, polling ${pollLat.at(-1) ?? '-'} ms`);
      await sleep(2_500); // let both come back healthy
    }
    polling = false;
    await pollLoop;
    if (quick) {
      log(`quick: agent ${JSON.stringify(agentLat)} ms, polling ${JSON.stringify(pollLat)} ms`);
      await agent.stop();
      return;
    }

    // Three independent services failing at once: none may wait for another's restart.
    const trioRounds = 4;
    const trioLat: number[] = [];
    for (let i = 0; i < trioRounds; i++) {
      const trio = [0, 1, 2].map((k) => agentIds[(i * 3 + k) % agentIds.length]!);
      if (!(await untilHealthy(docker, trio, 60_000))) {
        log(`three at once, round ${i + 1}: skipped, its containers were not healthy again within 60 s`);
        continue;
      }
      const linesBefore = agent.lines.length;
      for (const id of trio) unhealthyAt.delete(id);
      await Promise.all(
        trio.map(async (id) => {
          const ex = await docker.getContainer(id).exec({ Cmd: ['rm', '-f', '/tmp/healthy'] });
          await ex.start({});
        }),
      );
      const got = new Map<string, number>();
      const end = Date.now() + 30_000;
      while (Date.now() < end && got.size < trio.length) {
        await sleep(100);
        for (const id of trio) {
          if (got.has(id) || !unhealthyAt.has(id)) continue;
          const line = agent.lines
            .slice(linesBefore)
            .find((l) => l.action === 'restart' && l.containerId === id);
          if (line) got.set(id, Date.parse(line.time as string) - unhealthyAt.get(id)!);
        }
      }
      trioLat.push(...got.values());
      log(`three at once, round ${i + 1}: ${[...got.values()].join(', ')} ms (${got.size}/3 restarted)`);
      await sleep(4_000); // let all three come back healthy
    }
    results.threeAtOnce = {
      rounds: trioRounds,
      expectedSamples: trioRounds * 3,
      samples: trioLat.length,
      medianMs: pct(trioLat, 50),
      maxMs: Math.max(...trioLat),
      note: "three unrelated services' healthchecks fail together; each from its own unhealthy event to its restart call",
    };
    log(`three at once: ${JSON.stringify(results.threeAtOnce)}`);
    (events as unknown as { destroy(): void }).destroy();
    results.unhealthyToRestart = {
      rounds,
      agent: { samples: agentLat.length, medianMs: pct(agentLat, 50), maxMs: Math.max(...agentLat) },
      polling5s: { samples: pollLat.length, medianMs: pct(pollLat, 50), maxMs: Math.max(...pollLat) },
      note: 'from the health_status: unhealthy event timeNano to the restart call (agent: its log line just before the call, ms precision)',
    };
    log(`latency: ${JSON.stringify(results.unhealthyToRestart)}`);
    await agent.stop();
    await pollCompose.stop(
      Array.from({ length: 6 }, (_, i) => `svc-${i + 1}`),
      3,
    );

    // --- 100 stand-in containers ---------------------------------------------------------
    log('starting the agent on 100 stand-in containers');
    const manyWork = await writeStack('many', stackFile(image, 100, false, 'c'));
    const many = new AgentChild(bundle, await writeConfig('many', projects.many, manyWork));
    children.push(many);
    await many.waitFor('agent ready', 280_000);
    await sleep(10_000);
    const m0 = await many.usage();
    await sleep(20_000);
    const m1 = await many.usage();
    results.idle100 = {
      rssMB: round(m1.rssMB),
      cpuPercentOfOneCore: round(((m1.cpuSeconds - m0.cpuSeconds) / 20) * 100, 2),
      windowSeconds: 20,
    };
    log(`idle 100 containers: ${JSON.stringify(results.idle100)}`);

    // --- burst of 1000 events through the real parser + supervisor --------------------
    const ids = (
      await docker.listContainers({ filters: { label: [`com.docker.compose.project=${projects.many}`] } })
    ).map((c) => c.Id);
    const stream = new PassThrough();
    const real = docker as unknown as DockerodeLike;
    const fakeEvents: DockerodeLike = {
      version: (o) => real.version(o),
      listContainers: (o) => real.listContainers(o),
      getContainer: (id) => real.getContainer(id),
      getEvents: async () => stream,
    };
    const client = new DockerodeClient(fakeEvents);
    let handled = 0;
    let refreshedAt = 0;
    const cfg = parseConfig({ compose: { project: projects.many } });
    const sup = new Supervisor({
      docker: client,
      compose: { up: async () => {}, stop: async () => {} },
      project: projects.many,
      services: [],
      policy: policyFromConfig(cfg.agent),
      logger: createLogger({ level: 'silent' }),
      onRefreshed: () => {
        refreshedAt = performance.now();
      },
    });
    await sup.reconcile();
    await client.subscribe(projects.many, {
      onEvent: (e) => {
        handled++;
        sup.handleEvent(e);
      },
    });
    const nowNano = BigInt(Date.now()) * 1_000_000n;
    const text = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({
        Type: 'container',
        Action: i % 2 ? 'health_status: healthy' : 'start',
        Actor: { ID: ids[i % ids.length], Attributes: { 'com.docker.compose.project': projects.many } },
        time: Math.floor(Date.now() / 1000),
        timeNano: Number(nowNano) + i,
      }),
    ).join('\n');
    const t0 = performance.now();
    // Chunks that split and merge objects, as a socket would deliver them.
    for (let off = 0; off < text.length; off += 16_384) stream.write(`${text.slice(off, off + 16_384)}`);
    stream.write('\n');
    const tHandled = await (async () => {
      while (handled < 1000) await sleep(1);
      return performance.now();
    })();
    while (refreshedAt < tHandled) await sleep(2);
    results.burst1000 = {
      events: 1000,
      containers: ids.length,
      parsedAndPlannedMs: round(tHandled - t0, 1),
      lagUntilViewRefreshedMs: round(refreshedAt - t0, 1),
      actionsTaken: sup.busy().size,
      note: 'synthetic NDJSON burst through DockerodeClient + Supervisor in-process; inspects go to the real daemon',
    };
    log(`burst: ${JSON.stringify(results.burst1000)}`);
    await sup.stop(0).catch(() => {});
    await many.stop();
  } finally {
    for (const c of children) c.kill('SIGKILL');
    gateway.close();
    for (const p of Object.values(projects)) await removeComposeProject(p, docker).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await teardown();
  }
  const lat = results.unhealthyToRestart as { agent: { medianMs: number } };
  const trio = results.threeAtOnce as { maxMs: number; samples: number; expectedSamples: number };
  const i6 = results.idle6 as { rssMB: number; cpuPercentOfOneCore: number };
  const i100 = results.idle100 as { rssMB: number };
  const st = results.status as { p99Ms: number };
  const b = results.burst1000 as { lagUntilViewRefreshedMs: number };
  results.targets = {
    'unhealthy→restart median ≤ 250 ms': lat.agent.medianMs <= 250,
    'three at once: each restart ≤ 250 ms after its unhealthy mark':
      trio.samples === trio.expectedSamples && trio.maxMs <= 250,
    'RSS idle 6 services ≤ 75 MB': i6.rssMB <= 75,
    'RSS idle 100 containers ≤ 90 MB': i100.rssMB <= 90,
    'idle CPU ≤ 1 % of one core': i6.cpuPercentOfOneCore <= 1,
    '/status p99 ≤ 20 ms at 50 clients': st.p99Ms <= 20,
    '1000-event burst lag ≤ 1 s': b.lagUntilViewRefreshedMs <= 1000,
  };
  results.runtimeSeconds = Math.round((Date.now() - started) / 1000);
  results.loadAverageAtEnd = os.loadavg().map((l) => round(l, 2));
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/agent.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
process.exit(0);
