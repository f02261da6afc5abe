import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZxShell } from '../../../shared/shell.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import type { LoopDevice } from '../../harness/loop-device.ts';
import { checkMetrics, ensurePromtool } from '../../harness/promtool.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';
import { mountDataVolume, startOkGateway } from './agent-host.ts';
import { type AgentProcess, eventually, startReadyAgent } from './agent-process.ts';
import { STACK_SERVICES, standinCompose } from './standin-stack.ts';

/**
 * The agent against the real dockerd and compose v2, supervising stand-in
 * services named after what must happen to them. One stack, one agent run
 * (then a SIGKILL + restart, then SIGTERM), scenarios in order.
 */

const shell = new ZxShell();
let docker: Docker;
let project: string;
let dir: string;
let dataDir: string;
let loop: LoopDevice | undefined;
let gateway: Server;
let configFile: string;
let agent: AgentProcess;
let statusUrl: string;

async function status(): Promise<StatusSnapshot> {
  const res = await fetch(statusUrl, { signal: AbortSignal.timeout(3_000) });
  return (await res.json()) as StatusSnapshot;
}

function svc(s: StatusSnapshot, name: string) {
  const found = s.services.find((x) => x.name === name);
  if (!found)
    throw new Error(`service ${name} not in /status: ${JSON.stringify(s.services.map((x) => x.name))}`);
  return found;
}

async function containersOf(service: string) {
  return docker.listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`] },
  });
}

const actions = (a: AgentProcess, service?: string) =>
  a.lines.filter(
    (l) => (l.action === 'restart' || l.action === 'recreate') && (!service || l.service === service),
  );

async function startAgent(): Promise<AgentProcess> {
  const started = await startReadyAgent(configFile);
  statusUrl = started.statusUrl;
  return started.agent;
}

beforeAll(async () => {
  requireCommand('mkfs.ext4', 'apt-get install -y e2fsprogs');
  const image = requireEnv('DALSTON_TEST_IMAGE');
  docker = dockerFromEnv();
  project = uniqueProjectName('agent');
  dir = await mkdtemp(join(requireEnv('DALSTON_TEST_TMP'), 'agent-'));
  const work = join(dir, 'compose');
  await mkdir(work);
  await writeFile(join(work, 'docker-compose.yml'), JSON.stringify(standinCompose(image), null, 2));

  // A real filesystem on a loop device, mounted at dataDir: the mount check passes for real.
  dataDir = join(dir, 'data');
  loop = await mountDataVolume(dataDir);

  const gw = await startOkGateway();
  gateway = gw.server;

  configFile = join(dir, 'host.json');
  await writeFile(
    configFile,
    JSON.stringify({
      dataDir,
      compose: { project, workingDir: work, files: ['docker-compose.yml'] },
      agent: {
        listen: '127.0.0.1:0',
        stateDir: join(dir, 'state'),
        gatewayUrl: gw.healthUrl,
        reconcileIntervalSeconds: 3,
        restartBudget: { max: 2, windowSeconds: 600 },
        backoff: { initialSeconds: 2, maxSeconds: 4, resetAfterHealthySeconds: 600 },
        stopGraceSeconds: 5,
      },
    }),
  );
  agent = await startAgent();
}, 240_000);

afterAll(async () => {
  await agent?.ensureDead();
  if (project) await removeComposeProject(project, docker).catch(() => {});
  gateway?.close();
  await loop?.detach(); // unmounts dataDir first
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('agent supervising a real compose stack', () => {
  it('brings every service up with compose and reports them by compose label', async () => {
    for (const s of STACK_SERVICES) expect((await containersOf(s)).length, s).toBe(1);
    const s = await eventually(
      async () => {
        const st = await status();
        return svc(st, 'stays-healthy').health === 'healthy' ? st : null;
      },
      30_000,
      'stays-healthy healthy in /status',
    );
    expect(s.project).toBe(project);
    expect(s.docker).toMatchObject({ connected: true, eventsConnected: true });
    expect(s.services.map((x) => x.name).sort()).toEqual([...STACK_SERVICES].sort());
    const health = await fetch(statusUrl.replace('/status', '/healthz'));
    expect(health.status).toBe(200);
  });

  it('turns-unhealthy-once: healed exactly once, then healthy', async () => {
    await eventually(
      async () => actions(agent, 'turns-unhealthy-once').length === 1,
      30_000,
      'a restart of turns-unhealthy-once',
    );
    const line = actions(agent, 'turns-unhealthy-once')[0]!;
    expect(line).toMatchObject({ action: 'restart', reason: 'running but unhealthy' });
    expect(String(line.container)).toContain('turns-unhealthy-once');
    await eventually(
      async () => svc(await status(), 'turns-unhealthy-once').health === 'healthy',
      30_000,
      'turns-unhealthy-once healthy again',
    );
    // Several healthcheck rounds later, still exactly one action.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(actions(agent, 'turns-unhealthy-once')).toHaveLength(1);
    expect(svc(await status(), 'turns-unhealthy-once').agentRestarts).toBe(1);
  });

  it('serves /metrics that promtool check metrics accepts', async () => {
    const promtool = await ensurePromtool(shell);
    const text = await (await fetch(statusUrl.replace(/\/status$/, '/metrics'))).text();
    expect(text).toContain('dalston_agent_actions_total{service="turns-unhealthy-once",action="restart"} 1');
    const r = await checkMetrics(shell, promtool, text);
    expect(r.problems).toEqual([]);
    expect(r.exitCode).toBe(0);
  }, 600_000);

  it('always-unhealthy: budget spent, circuit open, no restart storm, stack degraded', async () => {
    const s = await eventually(
      async () => {
        const st = await status();
        return svc(st, 'always-unhealthy').circuitOpen ? st : null;
      },
      60_000,
      'circuit of always-unhealthy open',
    );
    expect(svc(s, 'always-unhealthy').agentRestarts).toBe(2);
    expect(s.state).toBe('degraded');
    const opened = agent.lines.filter((l) => l.service === 'always-unhealthy' && l.note === 'circuit-opened');
    expect(opened).toHaveLength(1);
    expect(String(opened[0]!.msg)).toMatch(/circuit open/);
    // Well past the backoff and several reconciles: still two actions.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(actions(agent, 'always-unhealthy')).toHaveLength(2);
  });

  it('crashes: Docker restarts it, the agent only reports', async () => {
    const s = await eventually(
      async () => {
        const st = await status();
        return svc(st, 'crashes').dockerRestarts >= 2 ? st : null;
      },
      40_000,
      'Docker restarting crashes',
    );
    expect(svc(s, 'crashes').agentRestarts).toBe(0);
    expect(actions(agent, 'crashes')).toHaveLength(0);
  });

  it('dependency-restarted: dependents wait, then are healed in dependency order', async () => {
    const [dep] = await containersOf('dependency');
    const before = agent.lines.length;
    await docker.getContainer(dep!.Id).stop({ t: 5 });
    // Both dependents lose what they depend on and turn unhealthy; the agent must hold off.
    await eventually(
      async () => {
        const st = await status();
        return svc(st, 'dependent-a').health === 'unhealthy' && svc(st, 'dependent-b').health === 'unhealthy';
      },
      30_000,
      'dependents unhealthy',
    );
    await agent.waitForLine(
      (l) => l.service === 'dependent-a' && l.note === 'blocked-by-dependency',
      15_000,
      'dependent-a blocked by its dependency',
    );
    await new Promise((r) => setTimeout(r, 4_000));
    expect(actions(agent, 'dependent-a')).toHaveLength(0);
    expect(actions(agent, 'dependent-b')).toHaveLength(0);
    await docker.getContainer(dep!.Id).start();
    await eventually(
      async () => {
        const st = await status();
        return ['dependency', 'dependent-a', 'dependent-b'].every((n) => svc(st, n).health === 'healthy');
      },
      60_000,
      'dependency and dependents healthy again',
    );
    const healed = agent.lines
      .slice(before)
      .filter((l) => l.action === 'restart')
      .map((l) => l.service);
    expect(healed.filter((s) => String(s).startsWith('depend'))).toEqual(['dependent-a', 'dependent-b']);
    expect(actions(agent, 'dependency')).toHaveLength(0);
  });

  it('container-removed: a configured service without a container is recreated by compose', async () => {
    const [old] = await containersOf('container-removed');
    await docker.getContainer(old!.Id).remove({ force: true });
    const line = await agent.waitForLine(
      (l) => l.service === 'container-removed' && l.action === 'recreate',
      30_000,
      'recreate of container-removed',
    );
    expect(line.reason).toBe('no container for a configured service');
    const now = await eventually(
      async () => {
        const cs = await containersOf('container-removed');
        return cs.length === 1 && cs[0]!.State === 'running' ? cs : null;
      },
      30_000,
      'container-removed running again',
    );
    expect(now[0]!.Id).not.toBe(old!.Id);
    await eventually(
      async () => svc(await status(), 'container-removed').containerId === now[0]!.Id,
      10_000,
      '/status showing the new container',
    );
  });

  it('SIGKILL: the stack keeps running; a new agent rebuilds its view from Docker', async () => {
    const before = await status();
    agent.kill('SIGKILL');
    expect((await agent.exit).signal).toBe('SIGKILL');
    const running = await docker.listContainers({
      filters: { label: [`com.docker.compose.project=${project}`] },
    });
    expect(running.length).toBeGreaterThanOrEqual(STACK_SERVICES.length - 1); // crashes may be between lives
    agent = await startAgent();
    const after = await eventually(
      async () => {
        const st = await status();
        return svc(st, 'stays-healthy').health === 'healthy' ? st : null;
      },
      30_000,
      'status after restart',
    );
    for (const name of ['stays-healthy', 'turns-unhealthy-once', 'dependency', 'container-removed']) {
      expect(svc(after, name).containerId, name).toBe(svc(before, name).containerId);
    }
    // Nothing healthy is touched on restart; compose up recreated nothing.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(actions(agent).filter((l) => l.service !== 'always-unhealthy')).toEqual([]);
  });

  it('SIGTERM: stops the stack dependents-first and exits 0', async () => {
    agent.kill('SIGTERM');
    const { code } = await agent.exit;
    expect(code, agent.tail()).toBe(0);
    const all = await docker.listContainers({
      all: true,
      filters: { label: [`com.docker.compose.project=${project}`] },
    });
    expect(
      all.filter((c) => c.State === 'running').map((c) => c.Labels['com.docker.compose.service']),
    ).toEqual([]);
    const finished = async (service: string) => {
      const [c] = await containersOf(service);
      return Date.parse((await docker.getContainer(c!.Id).inspect()).State.FinishedAt);
    };
    const [b, a, d] = await Promise.all(['dependent-b', 'dependent-a', 'dependency'].map(finished));
    expect(b!).toBeLessThanOrEqual(a!);
    expect(a!).toBeLessThanOrEqual(d!);
    const stopping = agent.lines.filter((l) => l.msg === 'stopping services').map((l) => l.services);
    expect(stopping.at(-1)).toContain('dependency');
    expect(stopping[0]).toEqual(['dependent-b']);
    expect(agent.lines.some((l) => l.msg === 'stack stopped')).toBe(true);
  });
});
