import { basename } from 'node:path';
import type { Shell } from '../../shared/shell.ts';

/** findmnt SOURCE may carry a btrfs subvolume suffix: /dev/nvme0n1p1[/@] */
export function stripSubvolume(source: string): string {
  return source.replace(/\[.*\]$/, '').trim();
}

/**
 * Kernel names of the device backing `/` and its parent disk. Empty when the
 * root is not a block device (overlay in a container).
 */
export async function rootDiskNames(shell: Shell, realpath: (p: string) => Promise<string | undefined>) {
  const names = new Set<string>();
  const r = await shell.run('findmnt', ['-n', '-o', 'SOURCE', '--target', '/']);
  const source = stripSubvolume(r.stdout.split('\n')[0] ?? '');
  if (r.exitCode !== 0 || !source.startsWith('/dev/')) return names;
  const real = (await realpath(source)) ?? source;
  names.add(basename(real));
  const parent = (await shell.run('lsblk', ['-n', '-d', '-o', 'PKNAME', real])).stdout.trim();
  if (parent) names.add(parent);
  return names;
}

/** True when `device` is the root filesystem's device, its parent disk, or a sibling partition of it. */
export async function isRootDisk(
  shell: Shell,
  device: string,
  realpath: (p: string) => Promise<string | undefined>,
): Promise<boolean> {
  const roots = await rootDiskNames(shell, realpath);
  if (roots.size === 0) return false;
  const real = (await realpath(device)) ?? device;
  if (roots.has(basename(real))) return true;
  const parent = (await shell.run('lsblk', ['-n', '-d', '-o', 'PKNAME', real])).stdout.trim();
  return parent !== '' && roots.has(parent);
}
