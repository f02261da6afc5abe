import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataPaths } from '../../../shared/config/data-paths.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import type { HostConfigInput } from '../../../shared/config/schema.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';
import { runBootstrap, sh } from '../bootstrap/bootstrap-process.ts';
import { AgentProcess, eventually } from './agent-process.ts';
import { dataVolumeCompose } from './standin-stack.ts';

/**
 * The whole path with a dataDir other than /data: a loop-device filesystem
 * mounted at a scratch path, host.json naming only dataDir (everything under it
 * derived), the bootstrap's dirs and dalston steps preparing it, and the agent
 * bringing up a stack whose binds use ${DALSTON_DATA_DIR:?} as our overlay does.
 */

const docker = dockerFromEnv();
const project = uniqueProjectName('datadir');
const marker = randomBytes(6).toString('hex');
let dir: string;
let root: string;
let dataDir: string;
let configFile: string;
let loop: LoopDevice | undefined;
let gateway: Server | undefined;
let agent: AgentProcess | undefined;

beforeAll(async () => {
  requireCommand('mkfs.ext4', 'apt-get install -y e2fsprogs');
  requireCommand('git', 'apt-get install -y git');
  dir = await mkdtemp(join(requireEnv('DALSTON_TEST_TMP'), 'datadir-'));
  root = join(dir, 'root');
  dataDir = join(dir, 'srv', 'ebs-data');
  await mkdir(join(root, 'etc/dalston'), { recursive: true });
  await mkdir(dataDir, { recursive: true });

  loop = await createLoopDevice({ sizeBytes: 64 * 1024 * 1024 });
  await sh('mkfs.ext4', ['-q', '-F', loop.device]);
  await sh('mount', [loop.device, dataDir]);

  // "Dalston" at a tag: the stand-in compose file, cloned by the dalston step.
  const src = join(dir, 'src');
  const remote = join(dir, 'dalston.git');
  await mkdir(src);
  await writeFile(
    join(src, 'docker-compose.yml'),
    JSON.stringify(dataVolumeCompose(requireEnv('DALSTON_TEST_IMAGE'), marker), null, 2),
  );
  const g = (args: string[]) =>
    sh('git', ['-C', src, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args]);
  await sh('git', ['init', '-q', src]);
  await g(['add', '.']);
  await g(['commit', '-qm', 'stand-in']);
  await g(['tag', 'v1.0.0']);
  await sh('git', ['clone', '-q', '--bare', src, remote]);

  gateway = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => gateway!.listen(0, '127.0.0.1', r));

  // No compose.workingDir: it must follow dataDir to where the dalston step checks Dalston out.
  const config: HostConfigInput = {
    dataDir,
    compose: { project, files: ['docker-compose.yml'] },
    dalston: { repo: remote, ref: 'v1.0.0' },
    agent: {
      listen: '127.0.0.1:0',
      stateDir: join(dir, 'state'),
      gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/health`,
      reconcileIntervalSeconds: 3,
      stopGraceSeconds: 5,
    },
  };
  configFile = join(root, 'etc/dalston/host.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
}, 120_000);

afterAll(async () => {
  await agent?.ensureDead();
  await removeComposeProject(project, docker).catch(() => {});
  gateway?.close();
  await loop?.detach(); // unmounts dataDir first
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe(`a dataDir other than /data`, () => {
  it('the bootstrap prepares the directories and the checkout under it', async () => {
    const run = await runBootstrap(['--root', root, '--steps', 'dirs,dalston,secrets']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.steps.dirs?.result).toBe('done');
    expect(run.steps.dalston?.detail).toContain(join(dataDir, 'dalston', 'v1.0.0'));
    const derived = parseConfig(JSON.parse(await readFile(configFile, 'utf8')));
    expect(derived.compose.workingDir).toBe(join(dataDir, 'dalston', 'current'));
    expect((await stat(join(derived.compose.workingDir, 'docker-compose.yml'))).isFile()).toBe(true);
    for (const d of Object.values(dataPaths(dataDir).subdirs))
      expect((await stat(d)).isDirectory(), d).toBe(true);
  });

  it('the agent brings the stack up healthy, its state bound from the data volume', async () => {
    agent = new AgentProcess(configFile);
    const pre = await agent.waitForLine((l) => l.msg === 'data volume is mounted', 60_000, 'mount check');
    expect(pre).toMatchObject({ dataDir, device: loop!.device });
    const listening = await agent.waitForLine(
      (l) => l.msg === 'status endpoint listening',
      60_000,
      'listening',
    );
    const statusUrl = `http://${listening.address as string}/status`;
    const status = await eventually(
      async () => {
        const s = (await (
          await fetch(statusUrl, { signal: AbortSignal.timeout(3_000) })
        ).json()) as StatusSnapshot;
        // A host sample whose mount reads timed out (a busy machine) says "not mounted": unknown is
        // never mounted. Wait for a sample that could read them.
        return s.state === 'healthy' && s.host.dataVolume.mounted ? s : null;
      },
      90_000,
      'the stack healthy and the data volume seen mounted in /status',
    );
    expect(status.services.map((s) => [s.name, s.health]).sort()).toEqual([
      ['gateway', 'healthy'],
      ['postgres', 'healthy'],
      ['redis', 'healthy'],
    ]);
    expect(status.host.dataVolume).toMatchObject({
      mountPoint: dataDir,
      mounted: true,
      device: loop!.device,
    });

    // Every bind source is on the data volume, where the overlay's variable put it.
    const containers = await docker.listContainers({
      filters: { label: [`com.docker.compose.project=${project}`] },
    });
    expect(containers).toHaveLength(3);
    const binds: Record<string, string[]> = {};
    for (const c of containers) {
      const info = await docker.getContainer(c.Id).inspect();
      const service = info.Config.Labels['com.docker.compose.service']!;
      binds[service] = info.Mounts.filter((m) => m.Type === 'bind').map((m) => m.Source);
    }
    const sub = dataPaths(dataDir).subdirs;
    expect(binds).toEqual({ postgres: [sub.postgres], redis: [sub.redis], gateway: [sub.models] });

    // What Postgres wrote is on the loop device, not on the root disk.
    const written = join(sub.postgres, 'marker');
    expect((await readFile(written, 'utf8')).trim()).toBe(marker);
    expect((await stat(written)).dev).toBe((await stat(dataDir)).dev);
    expect((await stat(dataDir)).dev).not.toBe((await stat('/')).dev);

    agent.kill('SIGTERM');
    expect((await agent.exit).code).toBe(0);
  });
});
