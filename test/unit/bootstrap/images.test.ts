import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NETWORK_LIMITS } from '../../../bootstrap/network-limits.ts';
import {
  builtHere,
  imagesStep,
  planImages,
  pulledImage,
  pullGroups,
} from '../../../bootstrap/steps/images.ts';
import { ConfigError, ExitCode, HostError } from '../../../shared/errors.ts';
import { type Call, fail, fakeContext, ok } from './fakes.ts';

/** The overlay's shape: pulled services (some with Dalston's `build:`), one engine built here, one base. */
const selected = {
  postgres: { image: 'postgres:18.1-alpine', pull_policy: 'missing' },
  gateway: { image: 'ghcr.io/ssarunic/dalston/gateway:t', pull_policy: 'missing', build: { context: '.' } },
  'stt-transcribe-faster-whisper': {
    image: 'dalston-local/stt-transcribe-faster-whisper:abc-cpu',
    pull_policy: 'never',
    build: { context: '.' },
  },
};
const base = {
  'dalston-base-pytorch': {
    image: 'dalston/base-pytorch:latest',
    pull_policy: 'never',
    build: { context: '.' },
    profiles: ['build'],
  },
};
const ENGINE = 'dalston-local/stt-transcribe-faster-whisper:abc-cpu';
const GATEWAY = 'ghcr.io/ssarunic/dalston/gateway:t';
const POSTGRES = 'postgres:18.1-alpine';
/** compose 2.26's output for a tag the registry does not have, and for a registry that refuses connections. */
const NOT_FOUND =
  ' gateway Pulling \n gateway Error manifest for ghcr.io/ssarunic/dalston/gateway:t not found: manifest unknown: manifest unknown\n' +
  'Error response from daemon: manifest for ghcr.io/ssarunic/dalston/gateway:t not found: manifest unknown: manifest unknown\n';
const REFUSED =
  ' gateway Pulling \n gateway Error Get "https://ghcr.io/v2/": dial tcp 140.82.121.33:443: connect: connection refused\n' +
  'Error response from daemon: Get "https://ghcr.io/v2/": dial tcp 140.82.121.33:443: connect: connection refused\n';
/** A `docker compose … build …` run (not `--profile build config`). */
const isBuild = (c: Call) => c.args.includes('build') && !c.args.includes('config');

describe('images plan (pure)', () => {
  it('builds only what cannot be pulled: pull_policy never/build, or no image', () => {
    expect(builtHere(selected.gateway)).toBe(false);
    expect(builtHere(selected.postgres)).toBe(false);
    expect(builtHere(selected['stt-transcribe-faster-whisper'])).toBe(true);
    expect(builtHere({ build: { context: '.' } })).toBe(true);
    expect(builtHere({ image: 'x', pull_policy: 'build', build: {} })).toBe(true);
  });
  it('nothing missing → nothing to build (the base is not even looked at)', () => {
    expect(planImages('dalston', selected, new Set(), base)).toEqual({ bases: [], services: [] });
    // A missing pulled image is pulled (pullMissingImages), never built.
    expect(planImages('dalston', selected, new Set(['ghcr.io/ssarunic/dalston/gateway:t']), base)).toEqual({
      bases: [],
      services: [],
    });
  });
  it('pulled: an image not built here, unless pull_policy never; one pull per image, its services together', () => {
    expect(pulledImage(selected.gateway)).toBe(true);
    expect(pulledImage(selected.postgres)).toBe(true);
    expect(pulledImage(selected['stt-transcribe-faster-whisper'])).toBe(false);
    expect(pulledImage({ image: 'local:1', pull_policy: 'never' })).toBe(false);
    expect(pulledImage({ build: { context: '.' } })).toBe(false);
    expect(
      pullGroups({
        ...selected,
        worker: { image: GATEWAY },
        stub: { image: 'local:1', pull_policy: 'never' },
      }),
    ).toEqual([
      { image: GATEWAY, services: ['gateway', 'worker'] },
      { image: POSTGRES, services: ['postgres'] },
    ]);
  });
  it('a missing engine → every build-profile base first, then the engine; default image names', () => {
    expect(planImages('dalston', selected, new Set([ENGINE]), { ...base, ...selected })).toEqual({
      bases: ['dalston-base-pytorch'],
      services: ['stt-transcribe-faster-whisper'],
    });
    expect(planImages('p', { api: { build: { context: 'api' } } }, new Set(['p-api']))).toEqual({
      bases: [],
      services: ['api'],
    });
  });
});

describe('images step (fake shell)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dh-img-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const config = () => ({
    compose: {
      workingDir: dir,
      files: ['docker-compose.yml', '/opt/overlay.yml'],
      envFiles: ['/etc/dalston/compose.env'],
      services: ['postgres', 'gateway', 'stt-transcribe-faster-whisper'],
    },
  });
  // The host's generated secrets come last (dataDir is the default /data here).
  const P = `compose -p dalston --project-directory ${'DIR'} -f docker-compose.yml -f /opt/overlay.yml --env-file /etc/dalston/compose.env --env-file /data/secrets/compose.env`;
  const project = () => P.replace('DIR', dir);

  /**
   * A fake docker: `config` answers JSON, `image inspect` from `present`, `build` adds images,
   * `pull` adds the pulled service's image (or answers `pullResult`).
   */
  function fakeDocker(
    ctx: ReturnType<typeof fakeContext>,
    present: Set<string>,
    buildResult = ok(),
    pullResult: (image: string) => ReturnType<typeof ok> = () => ok(),
  ) {
    ctx.shell.on((c: Call) => {
      if (c.cmd !== 'docker') return undefined;
      const a = c.args;
      if (a[0] === 'image' && a[1] === 'inspect') {
        return present.has(a.at(-1)!) ? ok('sha256:1\n') : fail(1, `Error: No such image: ${a.at(-1)}`);
      }
      if (a.includes('config')) {
        const services = a.includes('--profile') ? { ...selected, ...base } : selected;
        return ok(JSON.stringify({ name: 'dalston', services }));
      }
      if (a.includes('pull')) {
        const image = selected[a.at(-1) as keyof typeof selected].image;
        const r = pullResult(image);
        if (r.exitCode === 0) present.add(image);
        return r;
      }
      if (a.includes('build')) {
        if (buildResult.exitCode === 0) {
          if (a.includes('dalston-base-pytorch')) present.add('dalston/base-pytorch:latest');
          if (a.includes('stt-transcribe-faster-whisper')) present.add(ENGINE);
        }
        return buildResult;
      }
      return undefined;
    });
  }
  const inspect = (image: string) => `docker image inspect --format {{.Id}} ${image}`;

  it('everything present → unchanged: no pull, no build, no base lookup', async () => {
    const ctx = fakeContext(config());
    fakeDocker(ctx, new Set([ENGINE, GATEWAY, POSTGRES]));
    const out = await imagesStep.run(ctx);
    expect(out).toMatchObject({
      result: 'unchanged',
      detail: `pulled images present: ${GATEWAY}, ${POSTGRES}; built images present: ${ENGINE}`,
    });
    expect(ctx.shell.lines()).toEqual([
      `docker ${project()} config --format json postgres gateway stt-transcribe-faster-whisper`,
      inspect(GATEWAY),
      inspect(POSTGRES),
      inspect(ENGINE),
    ]);
    expect(ctx.shell.calls[0]!.opts).toMatchObject({ cwd: dir, env: { DALSTON_DATA_DIR: '/data' } });
  });

  it('pulls each missing pulled image with its time limit, before building anything', async () => {
    const progress: string[] = [];
    const ctx = fakeContext(config(), {
      progress: (m) => progress.push(m),
      limits: { ...NETWORK_LIMITS, imagePullMs: 123_000 },
    });
    fakeDocker(ctx, new Set([ENGINE, POSTGRES]));
    const out = await imagesStep.run(ctx);
    expect(out.result).toBe('done');
    expect(out.detail).toMatch(new RegExp(`^pulled ${GATEWAY} in .*; built images present: ${ENGINE}$`));
    expect(ctx.shell.lines()).toEqual([
      `docker ${project()} config --format json postgres gateway stt-transcribe-faster-whisper`,
      inspect(GATEWAY),
      inspect(POSTGRES),
      `docker ${project()} pull --quiet gateway`,
      inspect(GATEWAY),
      inspect(ENGINE),
    ]);
    const pull = ctx.shell.calls.find((c) => c.args.includes('pull'))!;
    expect(pull.opts).toMatchObject({ cwd: dir, env: { DALSTON_DATA_DIR: '/data' }, timeoutMs: 123_000 });
    expect(progress[0]).toBe(`pulling ${GATEWAY} (gateway)`);
  });

  it('a tag the registry does not have: stops at once, exit 78, the fix on the first line and compose after it', async () => {
    const ctx = fakeContext({ ...config(), dalston: { imageTag: 't' } });
    fakeDocker(ctx, new Set([POSTGRES]), ok(), (image) => (image === GATEWAY ? fail(18, NOT_FOUND) : ok()));
    const err = await imagesStep.run(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(ExitCode.config);
    expect((err as ConfigError).key).toBe('dalston.imageTag');
    const [first, second, ...rest] = (err as Error).message.split('\n');
    expect(first).toContain(`${GATEWAY} (gateway) not found`);
    expect(first).toContain('dalston.imageTag');
    expect(first).toContain('dalston_image_tag');
    expect(first).toContain('`latest` and `X.Y.Z`');
    expect(second).toBe(
      'docker compose pull: Error response from daemon: manifest for ghcr.io/ssarunic/dalston/gateway:t not found: manifest unknown: manifest unknown',
    );
    expect(rest).toEqual([]);
    // Not retried (a missing tag stays missing), and nothing built.
    expect(ctx.shell.calls.filter((c) => c.args.includes('pull'))).toHaveLength(1);
    expect(ctx.shell.calls.some(isBuild)).toBe(false);
  });

  it('an unreachable registry is retried, then stops with 69 saying so, never "not found"', async () => {
    const progress: string[] = [];
    const ctx = fakeContext(
      { ...config(), dalston: { imageTag: 't' } },
      { progress: (m) => progress.push(m), limits: { ...NETWORK_LIMITS, attempts: 3 } },
    );
    fakeDocker(ctx, new Set([POSTGRES]), ok(), () => fail(18, REFUSED));
    const err = await imagesStep.run(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect(err).not.toBeInstanceOf(ConfigError);
    expect((err as HostError).exitCode).toBe(ExitCode.unavailable);
    const [first, second] = (err as Error).message.split('\n');
    expect(first).toContain(
      `${GATEWAY} (gateway) could not be pulled: its registry could not be reached (3 attempts)`,
    );
    expect(first).not.toMatch(/not found/);
    expect(second).toContain('connect: connection refused');
    expect(ctx.shell.calls.filter((c) => c.args.includes('pull'))).toHaveLength(3);
    expect(ctx.clock.sleeps).toEqual([5000, 10_000]);
    expect(progress.filter((m) => m.includes('retrying'))).toHaveLength(2);
  });

  it('builds the build-profile base first, then the engine, as the agent names the project', async () => {
    const progress: string[] = [];
    const ctx = fakeContext(config(), { progress: (m) => progress.push(m) });
    fakeDocker(ctx, new Set([GATEWAY, POSTGRES]));
    const out = await imagesStep.run(ctx);
    expect(out.result).toBe('done');
    expect(out.detail).toMatch(
      /^pulled images present: .*; built dalston-base-pytorch, then stt-transcribe-faster-whisper \(/,
    );
    expect(ctx.shell.lines()).toEqual([
      `docker ${project()} config --format json postgres gateway stt-transcribe-faster-whisper`,
      inspect(GATEWAY),
      inspect(POSTGRES),
      `docker image inspect --format {{.Id}} ${ENGINE}`,
      `docker ${project()} --profile build config --format json`,
      `docker ${project()} --profile build build dalston-base-pytorch`,
      `docker ${project()} build stt-transcribe-faster-whisper`,
      `docker image inspect --format {{.Id}} ${ENGINE}`,
    ]);
    const builds = ctx.shell.calls.filter(isBuild);
    expect(builds.map((c) => c.opts?.cwd)).toEqual([dir, dir]);
    // The env the agent gives compose (the overlay's paths follow it).
    expect(builds.map((c) => c.opts?.env)).toEqual([
      { DALSTON_DATA_DIR: '/data' },
      { DALSTON_DATA_DIR: '/data' },
    ]);
    expect(builds.every((c) => (c.opts?.timeoutMs ?? 0) >= 60 * 60_000)).toBe(true);
    expect(progress[0]).toBe('building base images dalston-base-pytorch');
    expect(progress).toContain('building stt-transcribe-faster-whisper');
  });

  it('dry run: the planned commands, nothing pulled or built', async () => {
    const ctx = fakeContext(config(), { dryRun: true });
    fakeDocker(ctx, new Set());
    const out = await imagesStep.run(ctx);
    expect(out.result).toBe('planned');
    expect(out.changes).toEqual([
      `docker ${project()} pull --quiet gateway`,
      `docker ${project()} pull --quiet postgres`,
      `docker ${project()} --profile build build dalston-base-pytorch`,
      `docker ${project()} build stt-transcribe-faster-whisper`,
    ]);
    expect(ctx.shell.calls.some(isBuild)).toBe(false);
    expect(ctx.shell.calls.some((c) => c.args.includes('pull'))).toBe(false);
  });

  it("a failed build carries compose's stderr tail", async () => {
    const ctx = fakeContext(config());
    fakeDocker(
      ctx,
      new Set([GATEWAY, POSTGRES]),
      fail(17, '#5 [base 2/2] RUN pip install torch\n#5 ERROR: no space left on device\nfailed to solve'),
    );
    const err = await imagesStep.run(ctx).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /--profile build build dalston-base-pytorch exited 17: .*no space left on device \| failed to solve$/,
    );
    expect(
      ctx.shell.calls.filter((c) => c.args.includes('build') && !c.args.includes('config')),
    ).toHaveLength(1);
  });

  it('a daemon error is not mistaken for a missing image', async () => {
    const ctx = fakeContext(config());
    ctx.shell.on((c) => (c.args[0] === 'image' ? fail(1, 'Cannot connect to the Docker daemon') : undefined));
    fakeDocker(ctx, new Set());
    const err = await imagesStep.run(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as Error).message).toContain('Cannot connect to the Docker daemon');
  });

  it('no checkout yet: planned in a dry run, an error otherwise', async () => {
    const gone = join(dir, 'nope');
    const dry = fakeContext({ compose: { workingDir: gone } }, { dryRun: true });
    expect((await imagesStep.run(dry)).result).toBe('planned');
    expect(dry.shell.calls).toEqual([]);
    const real = fakeContext({ compose: { workingDir: gone } });
    await expect(imagesStep.run(real)).rejects.toThrow(`${gone} does not exist yet`);
  });
});
