import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETWORK_LIMITS } from '../../../bootstrap/network-limits.ts';
import { imagesStep } from '../../../bootstrap/steps/images.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { ExitCode, HostError } from '../../../shared/errors.ts';
import { runChecked, type Shell, ZxShell } from '../../../shared/shell.ts';
import { uniqueProjectName } from '../../harness/docker.ts';
import { type LocalRegistry, startRegistry } from '../../harness/docker-registry.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { ENV } from '../../harness/paths.ts';
import { requireEnv } from '../../harness/require.ts';
import { makeRoot, runBootstrap } from './bootstrap-process.ts';
import { realContext } from './real-context.ts';

/**
 * The images step pulls what the configured services pull, for real (issue 15): a Docker
 * Distribution registry (Debian's docker-registry) on a loopback port holds the stand-in image as
 * `dalston/gateway:1.0.0`; the harness's dockerd and Compose v2 pull it through the overlay's
 * shape (`image: …:${DALSTON_IMAGE_TAG}`, `pull_policy: missing`, no build). A tag the registry
 * lacks stops the bootstrap with 78 and the fix on the first line; a stopped registry is
 * "unreachable", never "not found".
 */

const shell = new ZxShell();
let registry: LocalRegistry;
let s: Awaited<ReturnType<typeof makeRoot>>;
let project: string;
let dir: string;
let repo: string;

const image = (tag: string) => `${repo}:${tag}`;
const docker = (args: string[]) => runChecked(shell, 'docker', args, { timeoutMs: 120_000 });
const imageExists = async (ref: string) =>
  (await shell.run('docker', ['image', 'inspect', ref], { timeoutMs: 60_000 })).exitCode === 0;
const untag = (ref: string) => shell.run('docker', ['image', 'rm', ref], { timeoutMs: 60_000 });

/** host.json for the image tag `tag`, as the desired step writes it. */
const hostJson = (tag: string) => ({
  dataDir: s.dataDir,
  dalston: { imageTag: tag },
  compose: {
    project,
    workingDir: dir,
    files: ['compose.yaml'],
    envFiles: ['compose.env'],
    services: ['gateway'],
  },
});

/** host.json and the env file compose reads the tag from, as the desired step writes them. */
async function useTag(tag: string): Promise<void> {
  await writeFile(join(dir, 'compose.env'), `DALSTON_IMAGE_TAG=${tag}\n`);
  await writeFile(join(s.root, 'etc/dalston/host.json'), JSON.stringify(hostJson(tag)));
}

/** A shell that counts the compose pulls it runs (and runs them for real). */
function countingShell(): Shell & { pulls: number } {
  const counter = {
    pulls: 0,
    run: (cmd: string, args: readonly string[], opts?: Parameters<Shell['run']>[2]) => {
      if (cmd === 'docker' && args.includes('pull')) counter.pulls++;
      return shell.run(cmd, args, opts);
    },
  };
  return counter;
}

beforeAll(async () => {
  const standin = requireEnv(ENV.image);
  registry = await startRegistry(shell, requireEnv(ENV.tmp));
  repo = `${registry.host}/dalston/gateway`;
  await docker(['tag', standin, image('1.0.0')]);
  await docker(['push', image('1.0.0')]);
  await untag(image('1.0.0'));
  project = uniqueProjectName('image-pull');
  s = await makeRoot(() => ({}));
  await writeHostSecrets(s.dataDir);
  dir = join(s.dir, 'project');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'compose.yaml'),
    `services:
  db:
    image: ${standin}
    pull_policy: never
  gateway:
    image: ${repo}:\${DALSTON_IMAGE_TAG:?}
    pull_policy: missing
    depends_on: [db]
`,
  );
}, 300_000);

afterAll(async () => {
  if (repo) for (const t of ['1.0.0', '9.9.9']) await untag(image(t));
  await registry?.close();
  if (s) await rm(s.dir, { recursive: true, force: true });
});

describe('images step: pulled images (real registry, dockerd, compose v2)', () => {
  it('tag 1.0.0: pulls the missing image; the next run finds it present and pulls nothing', async () => {
    await useTag('1.0.0');
    expect(await imageExists(image('1.0.0'))).toBe(false);
    const first = await runBootstrap(['--root', s.root, '--steps', 'images']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.steps.images).toMatchObject({
      result: 'done',
      detail: expect.stringMatching(
        new RegExp(
          `^pulled ${image('1.0.0').replace(/\./g, '\\.')} in .*; no configured service is built here$`,
        ),
      ),
    });
    expect(await imageExists(image('1.0.0'))).toBe(true);

    const second = await runBootstrap(['--root', s.root, '--steps', 'images']);
    expect(second.code).toBe(0);
    expect(second.steps.images).toMatchObject({
      result: 'unchanged',
      detail: `pulled images present: ${image('1.0.0')}; no configured service is built here`,
    });
  }, 300_000);

  it('tag 9.9.9, which the registry lacks: exit 78, the image:tag and dalston_image_tag on the first line', async () => {
    await useTag('9.9.9');
    const run = await runBootstrap(['--root', s.root, '--steps', 'images']);
    expect(run.code).toBe(ExitCode.config);
    expect(run.steps.images?.result).toBe('failed');
    const [first, second] = run.steps.images!.detail.split('\n');
    expect(first).toContain(`image ${image('9.9.9')} (gateway) not found`);
    expect(first).toContain('dalston.imageTag');
    expect(first).toContain('dalston_image_tag');
    expect(first).toContain('`latest` and `X.Y.Z`');
    // compose's own error line follows.
    expect(second).toMatch(/^docker compose pull: .*manifest unknown/);
    expect(await imageExists(image('9.9.9'))).toBe(false);
  }, 300_000);

  it('registry stopped: unreachable (69), retried, never called a missing tag', async () => {
    await useTag('1.0.0');
    await untag(image('1.0.0'));
    await registry.stop();
    const counting = countingShell();
    const ctx = realContext(parseConfig(hostJson('1.0.0')), counting, {
      configPath: join(s.root, 'etc/dalston/host.json'),
      root: s.root,
      limits: { ...NETWORK_LIMITS, attempts: 2 },
    });
    const err = await imagesStep.run(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as HostError).exitCode).toBe(ExitCode.unavailable);
    const [first, second] = (err as Error).message.split('\n');
    expect(first).toContain(
      `image ${image('1.0.0')} (gateway) could not be pulled: its registry could not be reached`,
    );
    expect(first).not.toMatch(/not found/);
    expect(second).toContain('connection refused');
    expect(counting.pulls).toBe(2);
    expect(await imageExists(image('1.0.0'))).toBe(false);
  }, 300_000);
});
