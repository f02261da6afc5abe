import type { MountProbe } from '../../../shared/mount/data-mount.ts';

/** A mount in the fake host's table; a bind mount from the root disk repeats the root's majorMinor. */
export interface FakeMount {
  mountPoint: string;
  source: string;
  majorMinor: string;
  /** Directory of the source filesystem that is mounted (a bind mount's origin); `/` by default. */
  root?: string;
  fsType?: string;
}

/** The root filesystem every fake host has. */
export const ROOT_MOUNT: FakeMount = { mountPoint: '/', source: '/dev/nvme0n1p1', majorMinor: '259:1' };

const escapeMountInfo = (s: string) =>
  s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);

/** st_dev as the kernel encodes it for small numbers: major << 8 | minor. */
const devOf = (majorMinor: string) => {
  const [maj, min] = majorMinor.split(':').map(Number);
  return maj! * 256 + min!;
};

/**
 * A fake host behind the MountProbe seam, consistent like a real one: mountinfo
 * lists `mounts` (after the root), a path exists when it is a mount point or is
 * listed in `dirs`, and its st_dev is that of the mount holding it.
 */
export function fakeMounts(
  mounts: FakeMount[],
  opts: { dirs?: string[]; links?: Record<string, string>; mountInfo?: string | null } = {},
): MountProbe {
  const table = [ROOT_MOUNT, ...mounts];
  const exists = (p: string) => table.some((m) => m.mountPoint === p) || (opts.dirs ?? []).includes(p);
  const holder = (p: string) =>
    table
      .filter((m) => m.mountPoint === '/' || p === m.mountPoint || p.startsWith(`${m.mountPoint}/`))
      .reduce((best, m) => (m.mountPoint.length >= best.mountPoint.length ? m : best));
  const text = table
    .map(
      (m, i) =>
        `${20 + i} ${i === 0 ? 1 : 20} ${m.majorMinor} ${escapeMountInfo(m.root ?? '/')} ${escapeMountInfo(m.mountPoint)} rw,relatime shared:${i + 1} - ${m.fsType ?? 'ext4'} ${escapeMountInfo(m.source)} rw`,
    )
    .join('\n');
  return {
    realpath: async (p) => {
      const target = opts.links?.[p] ?? p;
      return exists(target) ? target : null;
    },
    deviceOf: async (p) => (exists(p) ? devOf(holder(p).majorMinor) : null),
    mountInfo: async () => (opts.mountInfo === undefined ? text : opts.mountInfo),
  };
}
