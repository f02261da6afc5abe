import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerFromEnv, uniqueProjectName } from '../../harness/docker.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { ENV } from '../../harness/paths.ts';
import { requireEnv } from '../../harness/require.ts';
import { makeRoot, runBootstrap } from './bootstrap-process.ts';

/**
 * The images step for real: the harness's dockerd and Compose v2 build a
 * build-only base (profile `build`, FROM the stand-in image) and then a service
 * FROM that base with `pull_policy: never` — the shape of the overlay's
 * dalston-base-pytorch and stt-transcribe-faster-whisper. No RUN: the harness's
 * dockerd has no bridge network, so build steps only COPY and LABEL.
 */

let docker: Docker;
let project: string;
let s: Awaited<ReturnType<typeof makeRoot>>;
let baseImage: string;
let engineImage: string;

async function imageExists(name: string): Promise<boolean> {
  return docker
    .getImage(name)
    .inspect()
    .then(
      () => true,
      (err: { statusCode?: number }) => {
        if (err.statusCode === 404) return false;
        throw err;
      },
    );
}

beforeAll(async () => {
  const standin = requireEnv(ENV.image);
  docker = dockerFromEnv();
  project = uniqueProjectName('images');
  baseImage = `${project}-base:latest`;
  engineImage = `${project}-engine:ref1-cpu`;
  s = await makeRoot(() => ({}));
  await writeHostSecrets(s.dataDir);
  const dir = join(s.dir, 'project');
  await mkdir(join(dir, 'base'), { recursive: true });
  await mkdir(join(dir, 'engine'), { recursive: true });
  await writeFile(join(dir, 'base', 'base.txt'), 'base\n');
  await writeFile(join(dir, 'base', 'Dockerfile'), `FROM ${standin}\nCOPY base.txt /base.txt\n`);
  await writeFile(
    join(dir, 'engine', 'Dockerfile'),
    `FROM ${baseImage}\nARG DATA_DIR\nLABEL dalston-host-test.engine=yes dalston-host-test.data-dir=$DATA_DIR\n`,
  );
  // The image names come from the env file, as DALSTON_REF does on a host.
  await writeFile(join(dir, 'images.env'), `BASE_IMAGE=${baseImage}\nENGINE_IMAGE=${engineImage}\n`);
  await writeFile(
    join(dir, 'compose.yaml'),
    `services:
  db:
    image: ${standin}
    pull_policy: never
  # Has a build section but is pulled at a pinned tag (never built here); not configured, so not pulled either.
  gateway:
    image: ghcr.io/example/gateway:pinned
    pull_policy: missing
    build: { context: engine }
  engine:
    image: \${ENGINE_IMAGE}
    pull_policy: never
    build:
      context: engine
      # Set by the agent (and so by the images step) to the verified dataDir.
      args: { DATA_DIR: "\${DALSTON_DATA_DIR:?}" }
    depends_on: [db]
  base:
    image: \${BASE_IMAGE}
    pull_policy: never
    build: { context: base }
    profiles: [build]
`,
  );
  await writeFile(
    join(s.root, 'etc/dalston/host.json'),
    JSON.stringify({
      dataDir: s.dataDir,
      compose: {
        project,
        workingDir: dir,
        files: ['compose.yaml'],
        envFiles: ['images.env'],
        services: ['db', 'engine'],
      },
    }),
  );
});

afterAll(async () => {
  for (const image of [engineImage, baseImage]) {
    if (image)
      await docker
        .getImage(image)
        .remove({ force: true })
        .catch(() => undefined);
  }
  if (s) await rm(s.dir, { recursive: true, force: true });
});

describe('bootstrap images step (real dockerd + compose v2)', () => {
  it('builds the build-profile base, then the engine FROM it; a second run is unchanged', async () => {
    expect(await imageExists(baseImage)).toBe(false);
    const first = await runBootstrap(['--root', s.root, '--steps', 'images']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.steps.images).toMatchObject({
      result: 'done',
      detail: expect.stringMatching(/^built base, then engine \(/),
    });
    expect(await imageExists(baseImage)).toBe(true);
    expect(await imageExists(engineImage)).toBe(true);
    expect(await imageExists('ghcr.io/example/gateway:pinned')).toBe(false);
    const engine = await docker.getImage(engineImage).inspect();
    expect(engine.Config.Labels?.['dalston-host-test.engine']).toBe('yes');
    expect(engine.Config.Labels?.['dalston-host-test.data-dir']).toBe(s.dataDir);
    // FROM the base just built: the base's layers are the engine's first layers.
    const base = await docker.getImage(baseImage).inspect();
    expect(engine.RootFS.Layers?.slice(0, base.RootFS.Layers?.length)).toEqual(base.RootFS.Layers);
    // Progress lines for the long builds went to the log.
    expect(first.stdout).toContain('building base images base');

    const second = await runBootstrap(['--root', s.root, '--steps', 'images']);
    expect(second.code).toBe(0);
    expect(second.steps.images).toMatchObject({
      result: 'unchanged',
      detail: `built images present: ${engineImage}`,
    });
  });

  it('--dry-run lists the compose commands and builds nothing', async () => {
    await docker.getImage(engineImage).remove({ force: true });
    const run = await runBootstrap(['--root', s.root, '--steps', 'images', '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.steps.images?.result).toBe('planned');
    expect(run.stdout).toContain(`--profile build build base`);
    // The host's own secrets (the Postgres password) come last, after the checkout's env files.
    expect(run.stdout).toMatch(/--env-file images\.env --env-file \S+\/secrets\/compose\.env build engine/);
    expect(await imageExists(engineImage)).toBe(false);
  });
});
