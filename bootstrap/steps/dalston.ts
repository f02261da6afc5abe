import { lstat, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { dataPaths } from '../../shared/config/data-paths.ts';
import { requireKey } from '../../shared/config/load.ts';
import { HostError } from '../../shared/errors.ts';
import { runChecked, type Shell } from '../../shared/shell.ts';
import type { BootstrapContext } from '../context.ts';
import { withRetry } from '../retry.ts';
import { requireDataMounted } from './dirs.ts';
import { done, planned, type Step, unchanged } from './step.ts';

/** A ref as a directory name: safe characters only, never `.`/`..` or hidden. */
export function refDirName(ref: string): string {
  const s = ref.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return s === '' ? '_' : s;
}

export function isCommitRef(ref: string): boolean {
  return /^[0-9a-f]{7,40}$/.test(ref);
}

/** Pure: the checked-out HEAD matches the pinned ref (a commit prefix, or what the ref resolved to). */
export function headMatches(ref: string, head: string, resolved: string | undefined): boolean {
  if (isCommitRef(ref) && head.startsWith(ref)) return true;
  return resolved !== undefined && head === resolved;
}

const git = (shell: Shell, dir: string, args: string[]) =>
  shell.run('git', ['-C', dir, ...args], { env: { GIT_TERMINAL_PROMPT: '0' } });
const gitChecked = (shell: Shell, dir: string, args: string[]) =>
  runChecked(shell, 'git', ['-C', dir, ...args], { env: { GIT_TERMINAL_PROMPT: '0' } });

/**
 * git's environment for calls that reach the remote: never prompt, and give
 * up on an HTTP transfer that stays under 1 KiB/s (a remote that accepted the
 * connection and went silent). The shell's time limit covers every protocol.
 */
export function remoteGitEnv(stallSeconds: number): Record<string, string> {
  return {
    GIT_TERMINAL_PROMPT: '0',
    GIT_HTTP_LOW_SPEED_LIMIT: '1024',
    GIT_HTTP_LOW_SPEED_TIME: String(stallSeconds),
  };
}

/** What fetching a checkout needs: the bootstrap's context, or `dalston-host sync`'s (converge/). */
export type CheckoutContext = Pick<BootstrapContext, 'shell' | 'clock' | 'limits' | 'progress'>;

/** A call to the remote: time-limited per attempt, retried with the bootstrap's backoff. */
function remote(ctx: CheckoutContext, what: string, fn: () => Promise<string>): Promise<string> {
  return withRetry(ctx.clock, fn, {
    attempts: ctx.limits.attempts,
    onRetry: (err, attempt) =>
      ctx.progress(`${what} failed (attempt ${attempt}), retrying: ${(err as Error).message}`),
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The commit a ref names in a checkout, if it is known there. */
async function resolveRef(shell: Shell, dir: string, ref: string): Promise<string | undefined> {
  for (const candidate of [`refs/tags/${ref}`, ref]) {
    const r = await git(shell, dir, ['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`]);
    if (r.exitCode === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

async function head(shell: Shell, dir: string): Promise<string> {
  return (await gitChecked(shell, dir, ['rev-parse', 'HEAD'])).trim();
}

/** Fetches the ref (a tag, branch or commit) and checks it out detached; returns the commit. */
async function checkoutRef(ctx: CheckoutContext, dir: string, ref: string): Promise<string> {
  const shell = ctx.shell;
  const opts = { env: remoteGitEnv(ctx.limits.gitStallSeconds), timeoutMs: ctx.limits.gitFetchMs };
  await remote(ctx, 'git fetch', () =>
    runChecked(shell, 'git', ['-C', dir, 'fetch', '--tags', 'origin'], opts),
  );
  let commit = await resolveRef(shell, dir, ref);
  if (!commit) {
    // A commit not on any fetched branch: ask for it by name (GitHub allows this); best effort, not retried.
    const r = await shell.run('git', ['-C', dir, 'fetch', 'origin', ref], opts);
    if (r.exitCode === 0) commit = await resolveRef(shell, dir, isCommitRef(ref) ? ref : 'FETCH_HEAD');
  }
  if (!commit) {
    const remoteRef = await git(shell, dir, ['rev-parse', '--verify', '--quiet', `origin/${ref}^{commit}`]);
    if (remoteRef.exitCode === 0) commit = remoteRef.stdout.trim();
  }
  if (!commit) throw new HostError('failure', `dalston.ref ${ref} not found in the repository`);
  await gitChecked(shell, dir, [
    '-c',
    'advice.detachedHead=false',
    'checkout',
    '--quiet',
    '--detach',
    commit,
  ]);
  return commit;
}

async function verifyHead(shell: Shell, dir: string, ref: string, expected: string): Promise<string> {
  const h = await head(shell, dir);
  if (!headMatches(ref, h, expected)) {
    throw new HostError(
      'failure',
      `${dir}: HEAD is ${h} after checkout, expected ${expected} for dalston.ref ${ref}`,
    );
  }
  return h;
}

/** Points `current` at `target` by renaming a fresh symlink over it (atomic). */
export async function swapSymlink(link: string, target: string): Promise<boolean> {
  try {
    const st = await lstat(link);
    if (!st.isSymbolicLink()) {
      throw new HostError(
        'failure',
        `${link} exists and is not a symlink: move it away so it can point at the checkout`,
      );
    }
    if ((await readlink(link)) === target) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const temp = `${link}.tmp-${process.pid}`;
  await rm(temp, { force: true });
  await symlink(target, temp);
  await rename(temp, link);
  return true;
}

/**
 * Makes `<dalstonCheckouts>/<refDirName(ref)>` a clean checkout of `ref` without touching
 * `current`: an existing checkout is fetched and moved to the ref when it is elsewhere (never
 * over local changes); a missing one is cloned into a temp dir and renamed into place, so a
 * half-finished clone never looks like a checkout. Returns the directory, its name and HEAD.
 */
export async function ensureCheckout(
  ctx: CheckoutContext,
  repo: string,
  base: string,
  ref: string,
): Promise<{ dir: string; name: string; head: string; cloned: boolean }> {
  const shell = ctx.shell;
  const name = refDirName(ref);
  const dir = join(base, name);
  if (await exists(dir)) {
    await requireClean(shell, dir);
    if (!headMatches(ref, await head(shell, dir), await resolveRef(shell, dir, ref))) {
      const commit = await checkoutRef(ctx, dir, ref);
      await verifyHead(shell, dir, ref, commit);
    }
    return { dir, name, head: await head(shell, dir), cloned: false };
  }
  const temp = `${dir}.partial-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  try {
    await remote(ctx, 'git clone', async () => {
      await rm(temp, { recursive: true, force: true });
      return runChecked(shell, 'git', ['clone', '--quiet', '--no-checkout', repo, temp], {
        env: remoteGitEnv(ctx.limits.gitStallSeconds),
        timeoutMs: ctx.limits.gitCloneMs,
      });
    });
    const commit = await checkoutRef(ctx, temp, ref);
    await verifyHead(shell, temp, ref, commit);
    await rename(temp, dir);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
  return { dir, name, head: await head(shell, dir), cloned: true };
}

/** Refuses a checkout that is not a git work tree or has local changes (never overwritten). */
async function requireClean(shell: Shell, dir: string): Promise<void> {
  const status = await git(shell, dir, ['status', '--porcelain']);
  if (status.exitCode !== 0) {
    throw new HostError('failure', `${dir} is not a usable git checkout: ${status.stderr.trim()}`);
  }
  if (status.stdout.trim() !== '') {
    const files = status.stdout.trim().split('\n').slice(0, 5).join(', ');
    throw new HostError(
      'failure',
      `${dir} has local changes (${files}): refusing to overwrite them; commit, stash or remove them and run again`,
    );
  }
}

export const dalstonStep: Step = {
  name: 'dalston',
  async run(ctx) {
    const ref = requireKey(
      ctx.config.dalston.ref,
      'dalston.ref',
      'for the dalston step (a pinned commit or tag)',
    );
    const repo = ctx.config.dalston.repo;
    const { dalstonCheckouts: base, dalstonCurrent: link } = dataPaths(ctx.config.dataDir);
    const name = refDirName(ref);
    const dir = join(base, name);
    const shell = ctx.shell;
    const linkOk = async () => {
      try {
        return (await readlink(link)) === name;
      } catch {
        return false;
      }
    };

    if (await exists(dir)) {
      await requireClean(shell, dir);
      const h = await head(shell, dir);
      const resolved = await resolveRef(shell, dir, ref);
      if (headMatches(ref, h, resolved) && (await linkOk())) {
        return unchanged(`${dir} at ${h.slice(0, 12)} (dalston.ref ${ref}), current → ${name}`);
      }
      if (ctx.dryRun) {
        const changes = headMatches(ref, h, resolved) ? [] : [`fetch ${repo} and check out ${ref} in ${dir}`];
        return planned([...changes, `point ${link} at ${name}`]);
      }
      const checkout = await ensureCheckout(ctx, repo, base, ref);
      await swapSymlink(link, name);
      return done(`${dir} at ${checkout.head.slice(0, 12)} (dalston.ref ${ref}), current → ${name}`);
    }

    if (ctx.dryRun) return planned([`clone ${repo} at ${ref} into ${dir}`, `point ${link} at ${name}`]);
    await requireDataMounted(ctx, 'the Dalston checkout');
    const checkout = await ensureCheckout(ctx, repo, base, ref);
    await swapSymlink(link, name);
    return done(
      `cloned ${repo} at ${checkout.head.slice(0, 12)} (dalston.ref ${ref}) into ${dir}, current → ${name}`,
    );
  },
};
