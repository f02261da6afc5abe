import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Shell } from '../../shared/shell.ts';
import { tail } from './apt.ts';
import { findCommand } from './require.ts';

export const RECIPE_LABEL = 'dalston-host-test.recipe';

// Bump when the rootfs layout below changes: the image is rebuilt when the hash differs.
const recipeVersion = 2;
const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const group = 'root:x:0:\nnogroup:x:65534:\n';

/** Pure: the hash that identifies one build of the image (recipe + exact busybox build + applets). */
export function recipeHash(busyboxBanner: string, applets: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify({ recipeVersion, busyboxBanner, applets, passwd, group }))
    .digest('hex')
    .slice(0, 16);
}

/** Pure: applet names from `busybox --list` (one per line), without busybox itself. */
export function parseApplets(listOutput: string): string[] {
  return listOutput
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[\w.[\]-]+$/.test(l) && l !== 'busybox');
}

async function buildRootfs(rootfs: string, busybox: string, applets: readonly string[]): Promise<void> {
  for (const d of ['bin', 'etc', 'root', 'proc', 'sys', 'dev', 'var', 'usr', 'run']) {
    await mkdir(path.join(rootfs, d), { recursive: true });
  }
  await mkdir(path.join(rootfs, 'tmp'));
  await chmod(path.join(rootfs, 'tmp'), 0o1777);
  await copyFile(busybox, path.join(rootfs, 'bin', 'busybox'));
  await chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  // Every applet in /bin (relative links, so they resolve inside the container).
  for (const a of applets) await symlink('busybox', path.join(rootfs, 'bin', a));
  // Scripts that say /usr/bin/env or /sbin/... keep working.
  await symlink('bin', path.join(rootfs, 'sbin'));
  await symlink('../bin', path.join(rootfs, 'usr', 'bin'));
  await symlink('../bin', path.join(rootfs, 'usr', 'sbin'));
  await writeFile(path.join(rootfs, 'etc', 'passwd'), passwd);
  await writeFile(path.join(rootfs, 'etc', 'group'), group);
}

/**
 * Ensures the busybox stand-in image exists (no registry is reachable, so it
 * is imported from a rootfs). Rebuilt only when missing or its recipe changed.
 */
export async function ensureStandinImage(
  shell: Shell,
  docker: Docker,
  image: string,
  scratchDir: string,
  dockerEnv: Record<string, string>,
): Promise<string> {
  const busybox = findCommand('busybox');
  if (!busybox)
    throw new Error('missing prerequisite: busybox is not on PATH (apt-get install busybox-static)');
  const banner = (await shell.run(busybox, [])).stdout.split('\n')[0]?.trim() ?? '';
  const list = await shell.run(busybox, ['--list']);
  if (list.exitCode !== 0) throw new Error(`busybox --list failed: ${tail(list.stderr)}`);
  const applets = parseApplets(list.stdout);
  const hash = recipeHash(banner, applets);

  const existing = await docker
    .getImage(image)
    .inspect()
    .catch(() => undefined);
  const label = existing?.Config?.Labels?.[RECIPE_LABEL];
  if (label === hash) return `image: ${image} present (recipe ${hash})`;

  const work = await mkdtemp(path.join(scratchDir, 'standin-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    await buildRootfs(rootfs, busybox, applets);
    const tarball = path.join(work, 'rootfs.tar');
    const t = await shell.run('tar', [
      '-C',
      rootfs,
      '--numeric-owner',
      '--owner=0',
      '--group=0',
      '-cf',
      tarball,
      '.',
    ]);
    if (t.exitCode !== 0) throw new Error(`tar of the stand-in rootfs failed: ${tail(t.stderr)}`);
    const imp = await shell.run(
      'docker',
      ['import', '--change', 'CMD ["sh"]', '--change', `LABEL ${RECIPE_LABEL}=${hash}`, tarball, image],
      { env: dockerEnv, timeoutMs: 120_000 },
    );
    if (imp.exitCode !== 0)
      throw new Error(`docker import of ${image} failed: ${tail(imp.stderr || imp.stdout)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return `image: built ${image} from ${banner.split(' (')[0]} with ${applets.length} applets (recipe ${hash}${label ? `, replaced ${label}` : ''})`;
}
