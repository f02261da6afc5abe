import { HostError } from '../../shared/errors.ts';
import type { Shell } from '../../shared/shell.ts';
import type { HostFacts } from '../context.ts';

/**
 * Which block device is which. A filesystem UUID names a filesystem, not a
 * device: a volume restored from a snapshot (or any byte copy) carries the same
 * one. So "is this the data volume" is decided by device number (`major:minor`,
 * what the kernel and /proc/self/mountinfo use), and a UUID found on more than
 * one device is refused rather than guessed.
 */

/** Pure: Linux's dev_t encoding (glibc's gnu_dev_major/minor) → `major:minor`. */
export function formatDevNumber(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return `${major}:${minor}`;
}

/**
 * Every device that carries filesystem `uuid`, probed afresh: `-c /dev/null`
 * makes blkid ignore its cache and read each device in /proc/partitions, so a
 * copy attached a moment ago is seen. Exit 2 is "no such device".
 */
export async function devicesWithUuid(shell: Shell, uuid: string): Promise<string[]> {
  const r = await shell.run('blkid', ['-c', '/dev/null', '-t', `UUID=${uuid}`, '-o', 'device'], {
    timeoutMs: 60_000,
  });
  if (r.exitCode === 2) return [];
  if (r.exitCode !== 0) {
    throw new HostError(
      'failure',
      `blkid could not list the devices with UUID ${uuid} (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim() || '(no output)'}`,
    );
  }
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * Pure: the devices other than the data volume (by device number) that carry
 * its UUID; a device listed under two names counts once.
 */
export function otherCopies(
  volume: { majorMinor: string },
  found: readonly { path: string; majorMinor: string | undefined }[],
): string[] {
  const seen = new Set([volume.majorMinor]);
  const out: string[] = [];
  for (const f of found) {
    // A listed path that is no block device here (e.g. a name without a node) cannot be mounted here.
    if (!f.majorMinor || seen.has(f.majorMinor)) continue;
    seen.add(f.majorMinor);
    out.push(f.path);
  }
  return out;
}

/** Refuses (exit 65) when another device carries the data volume's filesystem UUID. */
export async function refuseCopies(
  shell: Shell,
  host: HostFacts,
  volume: { device: string; majorMinor: string; uuid: string },
): Promise<void> {
  const listed = await devicesWithUuid(shell, volume.uuid);
  const found = await Promise.all(
    listed.map(async (path) => ({ path, majorMinor: await host.deviceNumber(path) })),
  );
  const copies = otherCopies(volume, found);
  if (copies.length === 0) return;
  throw new HostError(
    'unsafeDisk',
    `filesystem UUID ${volume.uuid} is on ${copies.length + 1} devices: ${volume.device} ` +
      `(${volume.majorMinor}, the data volume) and ${copies.join(', ')}. A snapshot copy or clone ` +
      'attached beside the data volume could be mounted in its place, so nothing was mounted or ' +
      'changed. Detach the copy (or give it a new UUID: tune2fs -U random / xfs_admin -U generate), ' +
      'then run the bootstrap again.',
  );
}
