import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostConfigInput } from '../../../shared/config/schema.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';
import { sh } from '../bootstrap/bootstrap-process.ts';
import { AgentProcess, eventually } from './agent-process.ts';

/**
 * The bind-source check over the real engine and a real mount: a container
 * started while dataDir was a plain directory on the root disk keeps writing
 * there after the data volume is mounted over it (the host path then shows
 * the volume). The agent must see that through the container's own mount
 * table, stop it, report `data volume missing`, and not bring it back, while
 * a container bound after the mount, and one with no bind, run on.
 */

const docker = dockerFromEnv();
const project = uniqueProjectName('databinds');
let dir: string;
let dataDir: string;
let work: string;
let configFile: string;
let loop: LoopDevice | undefined;
let gateway: Server | undefined;
let agent: AgentProcess | undefined;

const TRAP = 'trap "exit 0" TERM; touch /tmp/healthy; while :; do sleep 1; done';
const svc = (image: string, extra: Record<string, unknown> = {}) => ({
  image,
  pull_policy: 'never',
  restart: 'unless-stopped',
  stop_grace_period: '3s',
  command: ['sh', '-c', TRAP],
  // Tolerant: a loaded machine must not make them unhealthy, this test is not about healing.
  healthcheck: { test: ['CMD', 'test', '-f', '/tmp/healthy'], interval: '2s', timeout: '10s', retries: 5 },
  ...extra,
});

const compose = (args: string[]) =>
  sh('docker', [
    'compose',
    '-p',
    project,
    '--project-directory',
    work,
    '-f',
    join(work, 'docker-compose.yml'),
    ...args,
  ]);

async function containerState(service: string): Promise<string | undefined> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`] },
  });
  return list[0]?.State;
}

beforeAll(async () => {
  requireCommand('mkfs.ext4', 'apt-get install -y e2fsprogs');
  const image = requireEnv('DALSTON_TEST_IMAGE');
  dir = await mkdtemp(join(requireEnv('DALSTON_TEST_TMP'), 'databinds-'));
  dataDir = join(dir, 'data');
  work = join(dir, 'compose');
  await mkdir(join(dataDir, 'early'), { recursive: true });
  await mkdir(work);
  await writeFile(
    join(work, 'docker-compose.yml'),
    JSON.stringify({
      services: {
        // Bound before the volume is mounted: its /state is the root disk's directory.
        early: svc(image, { volumes: [`${dataDir}/early:/state`] }),
        // Bound after: on the volume.
        late: svc(image, { volumes: [`${dataDir}/late:/state`] }),
        plain: svc(image),
      },
    }),
  );

  loop = await createLoopDevice({ sizeBytes: 64 * 1024 * 1024 });
  await sh('mkfs.ext4', ['-q', '-F', loop.device]);
  await compose(['up', '-d', 'early']);
  await sh('mount', [loop.device, dataDir]);
  await mkdir(join(dataDir, 'late'));
  await writeHostSecrets(dataDir);
  // The stack is running when the agent starts (as after an agent restart): held or not, it does
  // not run `compose up` while a service is held, so what runs is what the operator left running.
  await compose(['up', '-d', 'late', 'plain']);

  gateway = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => gateway!.listen(0, '127.0.0.1', r));
  const config: HostConfigInput = {
    dataDir,
    compose: { project, workingDir: work, files: ['docker-compose.yml'] },
    agent: {
      listen: '127.0.0.1:0',
      stateDir: join(dir, 'state'),
      gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/health`,
      reconcileIntervalSeconds: 2,
      stopGraceSeconds: 3,
    },
  };
  configFile = join(dir, 'host.json');
  await writeFile(configFile, JSON.stringify(config));
}, 300_000);

afterAll(async () => {
  await agent?.ensureDead();
  await removeComposeProject(project, docker).catch(() => {});
  gateway?.close();
  await loop?.detach(); // unmounts dataDir first
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the bind-source check', () => {
  it('stops a container whose bind under dataDir is on the root disk, reports it, and does not bring it back', async () => {
    agent = new AgentProcess(configFile);
    const listening = await agent.waitForLine(
      (l) => l.msg === 'status endpoint listening',
      60_000,
      'listening',
    );
    const statusUrl = `http://${listening.address as string}/status`;
    const status = async () =>
      (await (await fetch(statusUrl, { signal: AbortSignal.timeout(3_000) })).json()) as StatusSnapshot;

    const stopped = await agent.waitForLine(
      (l) => l.action === 'stop' && l.service === 'early',
      60_000,
      'the guard stopping early',
    );
    expect(String(stopped.reason)).toMatch(/\/state .* is on device \d+:\d+, not on the data volume/);
    expect(agent.lines.some((l) => /^data volume missing/.test(String(l.msg)))).toBe(true);

    // The rest of the stack, on the volume or on no disk at all, stays up.
    const s = await eventually(
      async () => {
        const st = await status();
        const up = (n: string) => st.services.find((x) => x.name === n)?.health === 'healthy';
        if (up('late') && up('plain') && /early is held stopped/.test(st.reason ?? '')) return st;
        throw new Error(JSON.stringify(st));
      },
      60_000,
      'late and plain healthy, early held',
    );
    expect(s.state).toBe('degraded');
    expect(s.reason).toMatch(/^data volume missing: .*early is held stopped/);

    // Several reconciles later: early still stopped, no compose up since, nothing healed onto the root disk.
    const linesAt = agent.lines.length;
    await new Promise((r) => setTimeout(r, 7_000));
    expect(await containerState('early')).toBe('exited');
    expect(await containerState('late')).toBe('running');
    expect(
      agent.lines.slice(linesAt).filter((l) => l.action === 'restart' || l.msg === 'compose up done'),
    ).toEqual([]);
    expect((await status()).reason).toMatch(/^data volume missing/);
    // The volume got none of early's directory (only late's and the host's secrets); the root disk's copy is hidden beneath it, untouched.
    expect((await readdir(dataDir)).sort()).toEqual(['late', 'lost+found', 'secrets']);

    agent.kill('SIGTERM');
    expect((await agent.exit).code).toBe(0);
  }, 300_000);
});
