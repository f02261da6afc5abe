import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ShellResult, ZxShell } from '../../../shared/shell.ts';
import { uniqueProjectName } from '../../harness/docker.ts';
import { PrivateDockerd } from '../../harness/private-dockerd.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';

/**
 * "No container with a /data bind can start unless dataDir is the data
 * volume", on the real engine: the overlay's binds under DALSTON_DATA_DIR must
 * make Docker refuse a missing source instead of creating it on the root disk
 * — at `compose up`, at `docker start`, and when dockerd itself restarts the
 * containers of an unclean stop (restart: unless-stopped) before anyone checked
 * the mount.
 */

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const fixture = path.join(repoRoot, 'test/fixtures/dalston-compose');
const overlay = path.join(repoRoot, 'compose/docker-compose.aws.yml');
const shell = new ZxShell();

/** Services of the CPU set with a bind under the data volume. */
const BIND_SERVICES = ['postgres', 'redis', 'gateway'];

let work: string;
let standins: string;
let image: string;

/**
 * The stack's services with our overlay's volumes as they are, and only what a
 * stand-in needs changed (image, command, no healthcheck, no published port:
 * parallel runs share the daemon's host ports).
 */
function standinOverride(img: string): string {
  const one = (name: string) =>
    [
      `  ${name}:`,
      `    image: ${JSON.stringify(img)}`,
      '    pull_policy: never',
      '    init: true',
      '    command: ["sleep", "infinity"]',
      '    healthcheck: { disable: true }',
      '    ports: !override []',
    ].join('\n');
  return `services:\n${BIND_SERVICES.map(one).join('\n')}\n`;
}

function compose(
  project: string,
  dataDir: string,
  args: string[],
  dockerHost?: string,
): Promise<ShellResult> {
  // biome-ignore format: -f pairs
  return shell.run('docker', [
    'compose', '-p', project, '--project-directory', fixture,
    '-f', path.join(fixture, 'docker-compose.yml'),
    '-f', path.join(fixture, 'infra/docker/docker-compose.aws.yml'),
    '-f', overlay,
    '-f', standins,
    ...args,
  ], {
    env: {
      DALSTON_DATA_DIR: dataDir,
      DALSTON_S3_BUCKET: 'b',
      DALSTON_S3_REGION: 'eu-west-2',
      AWS_REGION: 'eu-west-2',
      DALSTON_IMAGE_TAG: 't',
      DALSTON_REF: 'r',
      ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}),
    },
    timeoutMs: 120_000,
  });
}

/** An empty directory standing for /data on the root disk, the volume not mounted. */
async function emptyDataDir(): Promise<string> {
  const d = path.join(work, `data-${Math.random().toString(16).slice(2, 8)}`);
  await mkdir(d);
  return d;
}

const projects: Array<{ project: string; dataDir: string; host?: string }> = [];

beforeAll(async () => {
  requireCommand('docker', 'apt-get install -y docker.io');
  requireEnv('DOCKER_CONFIG');
  image = requireEnv('DALSTON_TEST_IMAGE');
  work = await mkdtemp(path.join(requireEnv('DALSTON_TEST_TMP'), 'overlay-binds-'));
  standins = path.join(work, 'standins.yml');
  await writeFile(standins, standinOverride(image));
});

afterAll(async () => {
  for (const p of projects) await compose(p.project, p.dataDir, ['down', '--timeout', '1'], p.host);
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('overlay binds under DALSTON_DATA_DIR', () => {
  it('every one is create_host_path: false, in every profile', async () => {
    const dataDir = '/data';
    const profiles = (await compose('dhtest-binds-config', dataDir, ['config', '--profiles'])).stdout
      .split('\n')
      .filter((p) => p && p !== 'disabled');
    const r = await compose('dhtest-binds-config', dataDir, [
      ...profiles.flatMap((p) => ['--profile', p]),
      'config',
      '--format',
      'json',
    ]);
    expect(r.stderr).not.toContain('error');
    const cfg = JSON.parse(r.stdout) as {
      services: Record<
        string,
        { volumes?: { type: string; source?: string; bind?: { create_host_path?: boolean } }[] }
      >;
    };
    const binds = Object.entries(cfg.services).flatMap(([name, s]) =>
      (s.volumes ?? [])
        .filter((v) => v.type === 'bind' && v.source?.startsWith(`${dataDir}/`))
        .map((v) => ({ name, source: v.source, create: v.bind?.create_host_path === true })),
    );
    // postgres, redis, the model cache of gateway and every engine, observability data, Prometheus' config.
    expect(binds.length).toBeGreaterThanOrEqual(20);
    // The resolved config leaves out a false create_host_path; short syntax would show `true`.
    expect(binds.filter((b) => b.create)).toEqual([]);
  });

  it('compose up refuses a missing source and creates nothing under dataDir', async () => {
    const dataDir = await emptyDataDir();
    const project = uniqueProjectName('binds-up');
    projects.push({ project, dataDir });
    for (const svc of BIND_SERVICES) {
      const r = await compose(project, dataDir, ['up', '-d', '--no-deps', svc]);
      expect(r.exitCode, svc).not.toBe(0);
      expect(r.stderr, svc).toContain('bind source path does not exist');
    }
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('an existing container does not start again once its source is gone (docker start)', async () => {
    const dataDir = await emptyDataDir();
    const project = uniqueProjectName('binds-start');
    projects.push({ project, dataDir });
    await mkdir(path.join(dataDir, 'postgres'));
    const up = await compose(project, dataDir, ['up', '-d', '--no-deps', 'postgres']);
    expect(up.stderr).not.toContain('Error');
    expect(up.exitCode).toBe(0);
    expect((await compose(project, dataDir, ['stop', '-t', '1', 'postgres'])).exitCode).toBe(0);
    await rm(path.join(dataDir, 'postgres'), { recursive: true });
    const start = await compose(project, dataDir, ['start', 'postgres']);
    expect(start.exitCode).not.toBe(0);
    expect(start.stderr).toContain('bind source path does not exist');
    expect(await readdir(dataDir)).toEqual([]);
  });
});

describe('dockerd restarting the containers of an unclean stop', () => {
  let dockerd: PrivateDockerd | undefined;
  afterAll(async () => {
    await dockerd?.destroy();
  }, 180_000);

  it('does not start them, nor create their source, while the data volume is missing', async () => {
    dockerd = await PrivateDockerd.create();
    await dockerd.loadImage(image);
    const dataDir = await emptyDataDir();
    const project = uniqueProjectName('binds-restart');
    for (const svc of ['postgres', 'redis']) await mkdir(path.join(dataDir, svc));
    const up = await compose(project, dataDir, ['up', '-d', '--no-deps', 'postgres', 'redis'], dockerd.host);
    expect(up.exitCode, up.stderr).toBe(0);
    const running = async () =>
      (
        await shell.run(
          'docker',
          ['ps', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}'],
          {
            env: { DOCKER_HOST: dockerd!.host },
          },
        )
      ).stdout
        .split('\n')
        .filter(Boolean)
        .sort();
    expect(await running()).toHaveLength(2);

    // The host goes down without the agent stopping the stack (Dalston's restart: unless-stopped
    // stays armed), and comes back with the volume missing: its directories are gone from dataDir.
    await dockerd.stop();
    for (const svc of ['postgres', 'redis']) await rm(path.join(dataDir, svc), { recursive: true });
    await dockerd.start();
    // dockerd restores restart-policy containers right after it starts answering; give it time to try.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await running()).toEqual([]);
    expect(await readdir(dataDir)).toEqual([]);

    // With the volume back (the directories exist again), the same containers start as they are.
    for (const svc of ['postgres', 'redis']) await mkdir(path.join(dataDir, svc));
    const again = await compose(
      project,
      dataDir,
      ['up', '-d', '--no-deps', 'postgres', 'redis'],
      dockerd.host,
    );
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await running()).toHaveLength(2);
  }, 240_000);
});
