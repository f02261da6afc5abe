import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEAL_MEMORY_FILE, HealMemoryStore } from '../../../agent/supervisor/heal-memory-store.ts';
import { freshMemory } from '../../../agent/supervisor/policy.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { requireEnv } from '../../harness/require.ts';
import { memoryLogger, testPolicy } from '../../unit/agent/fakes.ts';
import { AgentProcess, eventually } from './agent-process.ts';

/**
 * The healing memory on a real filesystem, and across a real agent's SIGKILL:
 * a service whose restart budget is spent stays with its circuit open when
 * the agent is killed and started again, instead of getting a fresh budget.
 */

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(requireEnv('DALSTON_TEST_TMP'), 'heal-memory-'));
  // What the bootstrap's secrets step leaves on a host: every compose run reads it.
  await writeHostSecrets(dir);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('HealMemoryStore on a real filesystem', () => {
  const at = Date.now();
  const memory = () =>
    new Map([
      ['redis', { ...freshMemory(testPolicy), actionTimes: [at], agentRestarts: 1, circuitOpenedAt: null }],
    ]);

  it('writes atomically (no temporary file left, root-only), reads back, and skips writes that change nothing', async () => {
    const stateDir = join(dir, 'state-ok', 'nested');
    const { logger, lines } = memoryLogger();
    const store = new HealMemoryStore({ dir: stateDir, project: 'p', policy: testPolicy, logger });
    store.save(memory());
    await store.flush();
    const file = join(stateDir, HEAL_MEMORY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(stateDir)).toEqual([HEAL_MEMORY_FILE]);
    const first = (await stat(file)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    store.save(memory());
    await store.flush();
    expect((await stat(file)).mtimeMs).toBe(first);

    const again = new HealMemoryStore({ dir: stateDir, project: 'p', policy: testPolicy, logger });
    const loaded = await again.load();
    expect(loaded.get('redis')).toMatchObject({ agentRestarts: 1 });
    expect(
      lines.some((l) => l.msg === 'healing memory restored (restart budgets, backoff, open circuits)'),
    ).toBe(true);
  });

  it('a corrupt file is logged and the agent starts fresh; the next write replaces it', async () => {
    const stateDir = join(dir, 'state-corrupt');
    await mkdir(stateDir);
    await writeFile(join(stateDir, HEAL_MEMORY_FILE), '{"format":1,"project":"p","serv');
    const { logger, lines } = memoryLogger();
    const store = new HealMemoryStore({ dir: stateDir, project: 'p', policy: testPolicy, logger });
    expect((await store.load()).size).toBe(0);
    expect(lines.find((l) => l.msg === 'healing memory not usable; starting fresh')).toMatchObject({
      reason: expect.stringMatching(/not JSON/),
    });
    store.save(memory());
    await store.flush();
    expect(
      JSON.parse(await readFile(join(stateDir, HEAL_MEMORY_FILE), 'utf8')).services.redis.agentRestarts,
    ).toBe(1);
  });

  it('a write that cannot happen warns once per streak and never throws', async () => {
    const blocked = join(dir, 'a-file');
    await writeFile(blocked, 'not a directory');
    const { logger, lines } = memoryLogger();
    const store = new HealMemoryStore({
      dir: join(blocked, 'state'),
      project: 'p',
      policy: testPolicy,
      logger,
    });
    for (let i = 1; i <= 3; i++) {
      store.save(new Map([['redis', { ...freshMemory(testPolicy), agentRestarts: i }]]));
      await store.flush();
    }
    expect(lines.filter((l) => String(l.msg).startsWith('cannot write the healing memory'))).toHaveLength(1);
  });
});

describe('an agent killed with SIGKILL keeps the restart budgets it had spent', () => {
  const docker: Docker = dockerFromEnv();
  const project = uniqueProjectName('healmem');
  let gateway: Server;
  let config: string;
  let stateDir: string;
  let agent: AgentProcess | undefined;
  let statusUrl: string;

  const status = async () =>
    (await (await fetch(statusUrl, { signal: AbortSignal.timeout(3_000) })).json()) as StatusSnapshot;
  const svc = (s: StatusSnapshot) => s.services.find((x) => x.name === 'always-unhealthy')!;
  const restarts = (a: AgentProcess) => a.lines.filter((l) => l.action === 'restart');

  async function start(): Promise<AgentProcess> {
    const a = new AgentProcess(config);
    const listening = await a.waitForLine((l) => l.msg === 'status endpoint listening', 60_000, 'listening');
    statusUrl = `http://${listening.address as string}/status`;
    await a.waitForLine((l) => l.msg === 'agent ready', 120_000, 'agent ready');
    return a;
  }

  beforeAll(async () => {
    const work = join(dir, 'compose');
    await mkdir(work, { recursive: true });
    await writeFile(
      join(work, 'docker-compose.yml'),
      JSON.stringify({
        services: {
          'always-unhealthy': {
            image: requireEnv('DALSTON_TEST_IMAGE'),
            pull_policy: 'never',
            init: true,
            stop_grace_period: '2s',
            command: ['sleep', 'infinity'],
            healthcheck: {
              test: ['CMD', 'test', '-f', '/tmp/never'],
              interval: '1s',
              timeout: '1s',
              retries: 1,
            },
          },
        },
      }),
    );
    gateway = createServer((_q, r) => r.end('ok'));
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    stateDir = join(dir, 'agent-state');
    config = join(dir, 'host.json');
    await writeFile(
      config,
      JSON.stringify({
        dataDir: dir,
        compose: { project, workingDir: work, files: ['docker-compose.yml'] },
        agent: {
          listen: '127.0.0.1:0',
          requireDataMount: false,
          stateDir,
          gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/health`,
          reconcileIntervalSeconds: 2,
          restartBudget: { max: 2, windowSeconds: 600 },
          backoff: { initialSeconds: 1, maxSeconds: 1, resetAfterHealthySeconds: 600 },
          stopGraceSeconds: 2,
        },
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await agent?.ensureDead();
    await removeComposeProject(project, docker).catch(() => {});
    gateway?.close();
  });

  it('spends the budget and opens the circuit', async () => {
    agent = await start();
    const s = await eventually(
      async () => ((x) => (svc(x)?.circuitOpen ? x : null))(await status()),
      60_000,
      'circuit open',
    );
    expect(svc(s).agentRestarts).toBe(2);
    expect(restarts(agent)).toHaveLength(2);
    // The open circuit reaches the file within the store's debounce (the spent budget is there already).
    const saved = await eventually(
      async () => {
        const f = JSON.parse(await readFile(join(stateDir, HEAL_MEMORY_FILE), 'utf8'));
        return f.services['always-unhealthy']?.circuitOpenedAt ? f.services['always-unhealthy'] : null;
      },
      5_000,
      'the open circuit in the memory file',
    );
    expect(saved).toMatchObject({ agentRestarts: 2, actionTimes: [expect.any(Number), expect.any(Number)] });
  });

  it('after SIGKILL the new agent starts with the circuit still open and restarts nothing', async () => {
    agent!.kill('SIGKILL');
    expect((await agent!.exit).signal).toBe('SIGKILL');
    agent = await start();
    expect(agent.lines.find((l) => l.msg?.startsWith('healing memory restored'))).toMatchObject({
      circuitOpen: ['always-unhealthy'],
    });
    expect(svc(await status())).toMatchObject({ circuitOpen: true, agentRestarts: 2 });
    // Well past the 1-s backoff and several reconciles, with the service unhealthy throughout.
    await new Promise((r) => setTimeout(r, 8_000));
    expect(restarts(agent)).toEqual([]);
    const s = await status();
    expect(svc(s)).toMatchObject({ circuitOpen: true, agentRestarts: 2, health: 'unhealthy' });
    expect(s.state).toBe('degraded');
  });

  it('a corrupt memory file: the agent says so and starts fresh (the budget is spent again)', async () => {
    agent!.kill('SIGKILL');
    await agent!.exit;
    await writeFile(join(stateDir, HEAL_MEMORY_FILE), 'this is not json');
    agent = await start();
    expect(agent.lines.find((l) => l.msg === 'healing memory not usable; starting fresh')).toBeDefined();
    await eventually(async () => restarts(agent!).length >= 1, 30_000, 'a restart with a fresh budget');
    agent.kill('SIGTERM');
    expect((await agent.exit).code).toBe(0);
  });
});
