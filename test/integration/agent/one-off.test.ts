import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { composeCli, dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { requireEnv } from '../../harness/require.ts';
import { AgentProcess, eventually } from './agent-process.ts';

/**
 * One-off containers (`docker compose run`) belong to the operator, not to the
 * stack: they carry the service's labels and healthcheck, but the agent must
 * neither restart them nor count them as the service, nor bring a tool service
 * up after its one-off is gone. Real agent process, real compose v2.
 */

const docker: Docker = dockerFromEnv();
const project = uniqueProjectName('oneoff');
let dir: string;
let work: string;
let gateway: Server;
let agent: AgentProcess;
let statusUrl: string;

const LOOP = 'trap "exit 0" TERM; while :; do sleep 1; done';
const health = { test: ['CMD', 'test', '-f', '/tmp/healthy'], interval: '1s', timeout: '1s', retries: 1 };

async function status(): Promise<StatusSnapshot> {
  return (await (await fetch(statusUrl, { signal: AbortSignal.timeout(3_000) })).json()) as StatusSnapshot;
}

const compose = (args: string[]) =>
  composeCli(['-p', project, '--project-directory', work, '-f', 'docker-compose.yml', ...args], {
    cwd: work,
  });

async function serviceContainers(service: string, oneoff: 'True' | 'False') {
  return docker.listContainers({
    all: true,
    filters: {
      label: [
        `com.docker.compose.project=${project}`,
        `com.docker.compose.service=${service}`,
        `com.docker.compose.oneoff=${oneoff}`,
      ],
    },
  });
}

beforeAll(async () => {
  const image = requireEnv('DALSTON_TEST_IMAGE');
  dir = await mkdtemp(join(requireEnv('DALSTON_TEST_TMP'), 'oneoff-'));
  await writeHostSecrets(dir);
  work = join(dir, 'compose');
  await mkdir(work);
  const svc = (command: string, extra: Record<string, unknown> = {}) => ({
    image,
    pull_policy: 'never',
    restart: 'unless-stopped',
    stop_grace_period: '3s',
    command: ['sh', '-c', command],
    healthcheck: health,
    ...extra,
  });
  await writeFile(
    join(work, 'docker-compose.yml'),
    JSON.stringify({
      services: {
        // Healthy only because its own command creates the file: an admin command run in its
        // image does not, so a one-off of it turns unhealthy (as Dalston's gateway's would).
        gateway: svc(`touch /tmp/healthy; ${LOOP}`),
        // A tool: never started by `up`, only run as a one-off.
        tool: svc(LOOP, { profiles: ['tools'] }),
      },
    }),
  );
  gateway = createServer((_q, r) => r.end('ok'));
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
  const config = join(dir, 'host.json');
  await writeFile(
    config,
    JSON.stringify({
      dataDir: dir,
      // compose.services empty: every service the agent sees is supervised, which is the risky case.
      compose: { project, workingDir: work, files: ['docker-compose.yml'] },
      agent: {
        listen: '127.0.0.1:0',
        stateDir: join(dir, 'state'),
        requireDataMount: false,
        gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/health`,
        reconcileIntervalSeconds: 2,
        restartBudget: { max: 5, windowSeconds: 600 },
        backoff: { initialSeconds: 1, maxSeconds: 2, resetAfterHealthySeconds: 600 },
        stopGraceSeconds: 3,
      },
    }),
  );
  agent = new AgentProcess(config);
  const listening = await agent.waitForLine(
    (l) => l.msg === 'status endpoint listening',
    60_000,
    'listening',
  );
  statusUrl = `http://${listening.address as string}/status`;
  await agent.waitForLine((l) => l.msg === 'agent ready', 120_000, 'agent ready');
  await eventually(async () => (await status()).state === 'healthy', 30_000, 'the stack healthy');
}, 240_000);

afterAll(async () => {
  await agent?.ensureDead();
  await removeComposeProject(project, docker).catch(() => {});
  gateway?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('one-off containers are invisible to supervision', () => {
  it('an unhealthy `compose run` of the gateway is not restarted and does not stand for the service', async () => {
    const [real] = await serviceContainers('gateway', 'False');
    const run = await compose(['run', '-d', '--no-deps', 'gateway', 'sh', '-c', LOOP]);
    expect(run.exitCode, run.stderr).toBe(0);
    const [oneOff] = await serviceContainers('gateway', 'True');
    expect(oneOff, 'the one-off container').toBeDefined();
    const startedAt = (await docker.getContainer(oneOff!.Id).inspect()).State.StartedAt;
    await eventually(
      async () => (await docker.getContainer(oneOff!.Id).inspect()).State.Health?.Status === 'unhealthy',
      30_000,
      'the one-off unhealthy (Docker runs the service healthcheck in it)',
    );
    // Several reconciles and more than the backoff: a supervised container would have been restarted by now.
    await new Promise((r) => setTimeout(r, 8_000));
    const after = await docker.getContainer(oneOff!.Id).inspect();
    expect(after.State.StartedAt, 'the operator job was restarted').toBe(startedAt);
    expect(after.State.Running).toBe(true);
    expect(agent.lines.filter((l) => l.containerId === oneOff!.Id || l.action === 'restart')).toEqual([]);
    const s = await status();
    expect(s.services.map((x) => x.name)).toEqual(['gateway']);
    expect(s.services[0]).toMatchObject({ containerId: real!.Id, health: 'healthy', agentRestarts: 0 });
    expect(s.state).toBe('healthy');
    await docker.getContainer(oneOff!.Id).remove({ force: true });
  });

  it('a removed one-off of a tool service does not make the agent bring the tool up', async () => {
    const run = await compose(['run', '-d', 'tool', 'sh', '-c', LOOP]);
    expect(run.exitCode, run.stderr).toBe(0);
    const [oneOff] = await serviceContainers('tool', 'True');
    expect(oneOff, 'the one-off tool container').toBeDefined();
    // Let the agent see it through events and at least one full reconcile.
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await status()).services.map((x) => x.name)).toEqual(['gateway']);
    await docker.getContainer(oneOff!.Id).remove({ force: true });
    await new Promise((r) => setTimeout(r, 6_000));
    expect(agent.lines.filter((l) => l.action === 'recreate')).toEqual([]);
    expect(await serviceContainers('tool', 'False')).toEqual([]);
    expect((await status()).services.map((x) => x.name)).toEqual(['gateway']);
  });
});
