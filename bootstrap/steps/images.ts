import { stat } from 'node:fs/promises';
import {
  ComposeCli,
  ComposeError,
  type ComposeTarget,
  composeEnv,
  composeTarget,
} from '../../shared/engine/compose-cli.ts';
import { HostError } from '../../shared/errors.ts';
import type { BootstrapContext } from '../context.ts';
import { formatDuration } from '../output.ts';
import { classifyPullFailure, pullFailureError } from '../pull-failure.ts';
import { withRetry } from '../retry.ts';
import { done, planned, type Step, type StepOutcome, unchanged } from './step.ts';

/** Compose profile of build-only services (base images other Dockerfiles start FROM); never started. */
export const BUILD_PROFILE = 'build';
/** A CPU PyTorch base plus an engine can take most of an hour on a small instance. */
const BUILD_TIMEOUT_MS = 2 * 60 * 60_000;
const HEARTBEAT_MS = 60_000;

/** The part of `docker compose config --format json` this step reads. */
export interface ComposeServiceConfig {
  image?: string;
  build?: unknown;
  pull_policy?: string;
  profiles?: string[];
}

/** Compose's own name for a built image without `image:`: `<project>-<service>`. */
export function imageOf(project: string, name: string, s: ComposeServiceConfig): string {
  return s.image ?? `${project}-${name}`;
}

/**
 * Pure: is this service's image made here rather than pulled? Only a `build:`
 * section that compose may not pull around: `pull_policy: never|build`, or no
 * `image:` at all. (Dalston's base file gives gateway & co. a `build:` too; the
 * overlay pulls those at a pinned tag and removes it.)
 */
export function builtHere(s: ComposeServiceConfig): boolean {
  if (s.build === undefined || s.build === null) return false;
  return s.image === undefined || s.pull_policy === 'never' || s.pull_policy === 'build';
}

export interface ImagesPlan {
  /** Build-profile services, built first (their images are what the others start FROM). */
  bases: string[];
  /** Configured services whose image is built here and missing. */
  services: string[];
}

/**
 * Pure: what to build. `selected` is `config` of the configured services (with
 * their dependencies); `missing` are the images not present locally;
 * `buildProfile` is `--profile build config`, read only when something is missing.
 * The simple, honest rule: when any service needs building, every build-profile
 * service is built first (BuildKit's cache makes an unchanged base quick, and a new
 * ref never builds on a stale base).
 */
export function planImages(
  project: string,
  selected: Record<string, ComposeServiceConfig>,
  missing: ReadonlySet<string>,
  buildProfile: Record<string, ComposeServiceConfig> = {},
): ImagesPlan {
  const isBase = (s: ComposeServiceConfig) => (s.profiles ?? []).includes(BUILD_PROFILE);
  const services = Object.entries(selected)
    .filter(([n, s]) => !isBase(s) && builtHere(s) && missing.has(imageOf(project, n, s)))
    .map(([n]) => n)
    .sort();
  if (services.length === 0) return { bases: [], services };
  const bases = Object.entries(buildProfile)
    .filter(([, s]) => isBase(s) && s.build !== undefined && s.build !== null)
    .map(([n]) => n)
    .sort();
  return { bases, services };
}

/** Pure: the compose argv for a plan (global project flags first, as the agent passes them). */
export function buildCommands(projectArgs: readonly string[], profiles: readonly string[], plan: ImagesPlan) {
  const cmds: string[][] = [];
  if (plan.bases.length > 0) {
    const profile = profiles.includes(BUILD_PROFILE) ? [] : ['--profile', BUILD_PROFILE];
    cmds.push([...projectArgs, ...profile, 'build', ...plan.bases]);
  }
  if (plan.services.length > 0) cmds.push([...projectArgs, 'build', ...plan.services]);
  return cmds;
}

/**
 * Pure: is this service's image pulled from a registry? An `image:` that is not built here,
 * unless `pull_policy: never` (nothing may pull it: a local image compose expects to find).
 */
export function pulledImage(s: ComposeServiceConfig): boolean {
  return s.image !== undefined && !builtHere(s) && s.pull_policy !== 'never';
}

/** Pure: the pulled images of `selected`, each with the services that use it, sorted by image. */
export function pullGroups(
  selected: Record<string, ComposeServiceConfig>,
): { image: string; services: string[] }[] {
  const byImage = new Map<string, string[]>();
  for (const [name, s] of Object.entries(selected)) {
    if (!pulledImage(s)) continue;
    byImage.set(s.image!, [...(byImage.get(s.image!) ?? []), name].sort());
  }
  return [...byImage.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([image, services]) => ({ image, services }));
}

/** What building images needs: the bootstrap's context, or `dalston-host sync`'s (converge/). */
export type ImagesContext = Pick<BootstrapContext, 'config' | 'shell' | 'clock' | 'progress' | 'dryRun'>;
/** Pulling reaches a registry: it also needs the network time limits. */
export type PullContext = ImagesContext & Pick<BootstrapContext, 'limits'>;

/** `docker compose … config --format json`'s services (the project as compose resolves it). */
export async function composeJson(
  ctx: Pick<ImagesContext, 'config' | 'shell'>,
  target: ComposeTarget,
  args: string[],
): Promise<Record<string, ComposeServiceConfig>> {
  const r = await ctx.shell.run('docker', args, {
    cwd: target.workingDir,
    env: composeEnv(ctx.config),
    timeoutMs: 120_000,
  });
  if (r.exitCode !== 0) throw new ComposeError(args, r.exitCode, r.stderr || r.stdout);
  try {
    return (JSON.parse(r.stdout) as { services?: Record<string, ComposeServiceConfig> }).services ?? {};
  } catch (err) {
    throw new HostError('failure', `docker ${args.join(' ')} printed no JSON: ${(err as Error).message}`);
  }
}

/** True when the image is in the local store; a daemon error is an error, not "missing". */
export async function imagePresent(ctx: Pick<ImagesContext, 'shell'>, image: string): Promise<boolean> {
  const r = await ctx.shell.run('docker', ['image', 'inspect', '--format', '{{.Id}}', image], {
    timeoutMs: 60_000,
  });
  if (r.exitCode === 0) return true;
  if (/no such image/i.test(r.stderr + r.stdout)) return false;
  throw new HostError(
    'failure',
    `docker image inspect ${image} exited ${r.exitCode}: ${(r.stderr || r.stdout).trim() || '(no output)'}`,
  );
}

/** Runs `fn` with a `…` line when it starts and every minute after (builds and pulls take long). */
async function withHeartbeat<T>(
  ctx: ImagesContext,
  verb: string,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  const t0 = ctx.clock.now();
  ctx.progress(`${verb} ${what}`);
  const timer = setInterval(
    () => ctx.progress(`still ${verb} ${what} (${formatDuration(ctx.clock.now() - t0)})`),
    HEARTBEAT_MS,
  );
  timer.unref();
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** Runs one long compose build. */
async function runBuild(ctx: ImagesContext, target: ComposeTarget, args: string[], what: string) {
  const t0 = ctx.clock.now();
  await withHeartbeat(ctx, 'building', what, async () => {
    const r = await ctx.shell.run('docker', args, {
      cwd: target.workingDir,
      env: composeEnv(ctx.config),
      timeoutMs: BUILD_TIMEOUT_MS,
    });
    if (r.exitCode !== 0) throw new ComposeError(args, r.exitCode, r.stderr || r.stdout);
  });
  ctx.progress(`built ${what} in ${formatDuration(ctx.clock.now() - t0)}`);
}

/** A failed `compose pull`, with compose's output (classified by bootstrap/pull-failure.ts). */
class PullAttemptError extends Error {
  constructor(readonly output: string) {
    super(output);
  }
}

/**
 * Pulls the images of `selected` (configured services, with their dependencies) that come from a
 * registry and are missing; present ones are never pulled again (so a boot that finds them all
 * changes nothing and reaches no registry). One `compose pull` per image, so a failure names
 * exactly which image:tag could not be pulled: a missing tag stops at once (HostError, 78 for
 * `dalston.imageTag`), an unreachable registry is retried `limits.attempts` times before it stops
 * (69); see bootstrap/pull-failure.ts. Shared by the images step and a Dalston change (converge/).
 */
export async function pullMissingImages(
  ctx: PullContext,
  selected: Record<string, ComposeServiceConfig>,
): Promise<StepOutcome | null> {
  const groups = pullGroups(selected);
  if (groups.length === 0) return null;
  const target = composeTarget(ctx.config);
  const projectArgs = new ComposeCli(ctx.shell, target).projectArgs();
  const present: string[] = [];
  const missing: typeof groups = [];
  for (const g of groups) {
    if (await imagePresent(ctx, g.image)) present.push(g.image);
    else missing.push(g);
  }
  if (missing.length === 0) return unchanged(`pulled images present: ${present.join(', ')}`);
  const cmds = missing.map((g) => [...projectArgs, 'pull', '--quiet', ...g.services]);
  if (ctx.dryRun) return planned(cmds.map((a) => `docker ${a.join(' ')}`));

  const t0 = ctx.clock.now();
  for (const [i, g] of missing.entries()) {
    const args = cmds[i]!;
    let attempts = 0;
    try {
      await withRetry(
        ctx.clock,
        () =>
          withHeartbeat(ctx, 'pulling', `${g.image} (${g.services.join(', ')})`, async () => {
            attempts++;
            const r = await ctx.shell.run('docker', args, {
              cwd: target.workingDir,
              env: composeEnv(ctx.config),
              timeoutMs: ctx.limits.imagePullMs,
            });
            if (r.exitCode !== 0) throw new PullAttemptError(`${r.stderr}\n${r.stdout}`.trim());
          }),
        {
          attempts: ctx.limits.attempts,
          retryIf: (err) =>
            err instanceof PullAttemptError && classifyPullFailure(err.output) === 'unreachable',
          onRetry: (err, n) =>
            ctx.progress(
              `pulling ${g.image} failed (attempt ${n}), retrying: ${(err as Error).message.split('\n').at(-1)}`,
            ),
        },
      );
    } catch (err) {
      if (!(err instanceof PullAttemptError)) throw err;
      throw pullFailureError({
        image: g.image,
        services: g.services,
        imageTag: ctx.config.dalston.imageTag,
        output: err.output,
        attempts,
      });
    }
    if (!(await imagePresent(ctx, g.image))) {
      throw new HostError('failure', `docker ${args.join(' ')} succeeded but ${g.image} is still missing`);
    }
  }
  const pulled = missing.map((g) => g.image);
  return done(`pulled ${pulled.join(', ')} in ${formatDuration(ctx.clock.now() - t0)}`);
}

/** The configured services as compose resolves them (with their dependencies). */
interface ResolvedProject {
  target: ComposeTarget;
  projectArgs: string[];
  selected: Record<string, ComposeServiceConfig>;
}

/** `config --format json` of the configured services; a dry run's plan when there is no checkout yet. */
async function resolveProject(ctx: ImagesContext): Promise<ResolvedProject | StepOutcome> {
  const target = composeTarget(ctx.config);
  const projectArgs = new ComposeCli(ctx.shell, target).projectArgs();
  const exists = await stat(target.workingDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!exists) {
    const why = `${target.workingDir} does not exist yet (the dalston step checks Dalston out there)`;
    if (ctx.dryRun) return planned([`pull and build the missing images of the compose project: ${why}`]);
    throw new HostError('failure', `cannot pull or build images: ${why}`);
  }
  const selected = await composeJson(ctx, target, [
    ...projectArgs,
    'config',
    '--format',
    'json',
    ...ctx.config.compose.services,
  ]);
  return { target, projectArgs, selected };
}

/**
 * Builds the configured services' images that are made here and missing (bases first), for the
 * project `ctx.config` names: the bootstrap's, or a staged one (`dalston-host sync` builds a new
 * ref's images from its own checkout before anything stops).
 */
export async function buildMissingImages(ctx: ImagesContext): Promise<StepOutcome> {
  const p = await resolveProject(ctx);
  return 'result' in p ? p : buildImages(ctx, p);
}

async function buildImages(ctx: ImagesContext, p: ResolvedProject): Promise<StepOutcome> {
  const c = ctx.config.compose;
  const { target, projectArgs, selected } = p;
  const missing = new Set<string>();
  const local: string[] = [];
  for (const [name, s] of Object.entries(selected)) {
    if (!builtHere(s)) continue;
    const image = imageOf(c.project, name, s);
    if (await imagePresent(ctx, image)) local.push(image);
    else missing.add(image);
  }
  let plan = planImages(c.project, selected, missing);
  if (plan.services.length === 0) {
    return unchanged(
      local.length > 0
        ? `built images present: ${local.sort().join(', ')}`
        : 'no configured service is built here',
    );
  }
  const profileArgs = c.profiles.includes(BUILD_PROFILE) ? [] : ['--profile', BUILD_PROFILE];
  const buildProfile = await composeJson(ctx, target, [
    ...projectArgs,
    ...profileArgs,
    'config',
    '--format',
    'json',
  ]);
  plan = planImages(c.project, selected, missing, buildProfile);
  const cmds = buildCommands(projectArgs, c.profiles, plan);
  if (ctx.dryRun) return planned(cmds.map((a) => `docker ${a.join(' ')}`));

  const t0 = ctx.clock.now();
  if (plan.bases.length > 0) await runBuild(ctx, target, cmds[0]!, `base images ${plan.bases.join(', ')}`);
  await runBuild(ctx, target, cmds.at(-1)!, plan.services.join(', '));
  const stillMissing: string[] = [];
  for (const name of plan.services) {
    const image = imageOf(c.project, name, selected[name]!);
    if (!(await imagePresent(ctx, image))) stillMissing.push(image);
  }
  if (stillMissing.length > 0) {
    throw new HostError(
      'failure',
      `docker compose build succeeded but ${stillMissing.join(', ')} is still missing`,
    );
  }
  const bases = plan.bases.length > 0 ? `${plan.bases.join(', ')}, then ` : '';
  return done(
    `built ${bases}${plan.services.join(', ')} (${[...missing].sort().join(', ')}) in ${formatDuration(ctx.clock.now() - t0)}`,
  );
}

/** Pure: one outcome for the pull and the build (a dry run lists both's commands). */
export function combineOutcomes(pull: StepOutcome | null, build: StepOutcome): StepOutcome {
  if (!pull) return build;
  if (pull.result === 'planned' || build.result === 'planned') {
    return planned([...(pull.changes ?? []), ...(build.changes ?? [])]);
  }
  const detail = `${pull.detail}; ${build.detail}`;
  return pull.result === 'done' || build.result === 'done' ? done(detail) : unchanged(detail);
}

/**
 * The bootstrap's images step: pulls the missing pulled images first (a wrong `dalston.imageTag`
 * stops the boot here, in seconds and with the tag named, not later inside the agent's `compose
 * up` retries, nor after an hour-long build), then builds what is built here.
 */
export const imagesStep: Step = {
  name: 'images',
  async run(ctx) {
    const p = await resolveProject(ctx);
    if ('result' in p) return p;
    const pull = await pullMissingImages(ctx, p.selected);
    return combineOutcomes(pull, await buildImages(ctx, p));
  },
};
