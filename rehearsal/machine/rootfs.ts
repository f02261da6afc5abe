import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pidAlive } from '../../shared/process-alive.ts';
import { runChecked, type Shell } from '../../shared/shell.ts';
import { debianMirror } from '../../test/harness/apt-mirror.ts';
import { staleEntries } from '../../test/harness/cache-entries.ts';
import { debootstrapArgs, type RootfsRecipe, recipeHash } from './recipe.ts';

/** A real host path for a root tool: the cache outlives runs and never lives in the repo. */
export const DEFAULT_CACHE_DIR = '/var/cache/dalston-host-rehearsal';

export interface RootfsCache {
  dir: string;
  hash: string;
  /** True when this call built it (a cold cache or a changed recipe). */
  built: boolean;
}

/**
 * The cached rootfs for `recipe`, built with debootstrap when missing (about a
 * minute on 2 cores). Built in a `.partial` directory and renamed, so an
 * interrupted build is never mistaken for a finished one.
 */
export async function ensureRootfs(
  shell: Shell,
  cacheDir: string,
  recipe: RootfsRecipe,
  log: (line: string) => void,
): Promise<RootfsCache> {
  const hash = recipeHash(recipe);
  const dir = path.join(cacheDir, `rootfs-${hash}`);
  await mkdir(cacheDir, { recursive: true });
  if (existsSync(path.join(dir, '.recipe.json'))) return { dir, hash, built: false };

  for (const name of staleEntries(await readdir(cacheDir), hash, pidAlive)) {
    await rm(path.join(cacheDir, name), { recursive: true, force: true });
  }
  const partial = path.join(cacheDir, `rootfs-${hash}.partial-${process.pid}`);
  const mirror = await debianMirror();
  log(
    `building the machine's rootfs (recipe ${hash}) with debootstrap; about a minute, cached for later runs`,
  );
  try {
    const r = await shell.run('debootstrap', debootstrapArgs(recipe, partial, mirror), {
      timeoutMs: 20 * 60_000,
    });
    if (r.exitCode !== 0) {
      const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-8).join('\n  ');
      throw new Error(
        `debootstrap failed (exit ${r.exitCode}); is ${mirror} (from the apt sources) reachable?\n  ${tail}`,
      );
    }
    await customise(shell, partial);
    await writeFile(
      path.join(partial, '.recipe.json'),
      `${JSON.stringify({ hash, recipe, mirror }, null, 2)}\n`,
    );
    if (existsSync(path.join(dir, '.recipe.json'))) {
      // Another rehearsal finished the same build first: use its copy.
      await rm(partial, { recursive: true, force: true });
      return { dir, hash, built: true };
    }
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
  return { dir, hash, built: true };
}

/** Post-debootstrap changes every run needs (part of the recipe's `layout`). */
async function customise(shell: Shell, rootfs: string): Promise<void> {
  await writeFile(path.join(rootfs, 'etc', 'hostname'), 'dalston-rehearsal\n');
  // The downloaded .debs are not needed in the machine; a smaller cache copies faster.
  await runChecked(shell, 'find', [path.join(rootfs, 'var/cache/apt/archives'), '-name', '*.deb', '-delete']);
}

/** A private copy of the cached rootfs for one run: each run starts from a clean machine. */
export async function cloneRootfs(shell: Shell, cached: string, target: string): Promise<void> {
  await runChecked(shell, 'cp', ['-a', '--reflink=auto', cached, target], { timeoutMs: 10 * 60_000 });
  await rm(path.join(target, '.recipe.json'), { force: true });
}
