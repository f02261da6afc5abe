/**
 * "Is the data volume mounted at dataDir?" — decided here and nowhere else.
 * The agent's preflight (refuses to start the stack), the host probe (the
 * status snapshot) and the bootstrap (refuses to write under dataDir, and asks
 * what is mounted there) all use `decideDataMount` on facts `observeDataMount`
 * gathers, so they cannot disagree.
 */
import { readFile, realpath, stat } from 'node:fs/promises';

/** One line of /proc/self/mountinfo. */
export interface MountInfoEntry {
  /** `major:minor` of the mounted filesystem (what st_dev of files on it says). */
  majorMinor: string;
  /** The directory of the source filesystem that is mounted (`/` unless a bind mount). */
  root: string;
  mountPoint: string;
  fsType: string;
  /** The mount source: a device path, or a name such as `tmpfs`. */
  source: string;
}

const unescapeOctal = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/**
 * Pure: parses /proc/self/mountinfo, in order (later lines are mounted over
 * earlier ones): `id parent maj:min root mountpoint opts [optional…] - fstype source superopts`.
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 6 || f.length < dash + 3 || !/^\d+:\d+$/.test(f[2]!)) continue;
    out.push({
      majorMinor: f[2]!,
      root: unescapeOctal(f[3]!),
      mountPoint: unescapeOctal(f[4]!),
      fsType: unescapeOctal(f[dash + 1]!),
      source: unescapeOctal(f[dash + 2]!),
    });
  }
  return out;
}

/** What the host shows about dataDir; each fact is null when it could not be observed. */
export interface DataMountFacts {
  /** dataDir as configured. */
  dataDir: string;
  /** realpath(dataDir); null when it does not exist. */
  resolved: string | null;
  /** /proc/self/mountinfo; null when it could not be read. */
  mountInfo: string | null;
  /** st_dev of the resolved dataDir. */
  dataDev: number | null;
  /** st_dev of `/`. */
  rootDev: number | null;
}

export interface DataMount {
  /** dataDir as configured. */
  mountPoint: string;
  /** realpath(dataDir), null when it does not exist (what the mount table and df list). */
  resolved: string | null;
  /** True only when dataDir is a mount point of its own and not on the root filesystem. */
  mounted: boolean;
  /** Source of the top-most mount at dataDir (also when it does not count as the data volume), else null. */
  device: string | null;
  /** `major:minor` of that mount, else null. */
  majorMinor: string | null;
  /** Why it is not mounted; null when mounted. */
  reason: string | null;
}

/**
 * Pure: dataDir is the data volume's mount when it exists, is a mount point of
 * its own (a mountinfo entry at its resolved path; the last one wins, as later
 * mounts stack over earlier ones) and its device is not the root filesystem's
 * — a bind mount of a directory from the root disk is not a data volume.
 * Unknown facts never count as mounted.
 */
export function decideDataMount(facts: DataMountFacts): DataMount {
  const { dataDir } = facts;
  const no = (reason: string, top?: MountInfoEntry): DataMount => ({
    mountPoint: dataDir,
    resolved: facts.resolved,
    mounted: false,
    device: top?.source ?? null,
    majorMinor: top?.majorMinor ?? null,
    reason,
  });
  if (facts.resolved === null) return no(`${dataDir} does not exist`);
  if (facts.mountInfo === null) return no('the mount table (/proc/self/mountinfo) could not be read');
  const top = parseMountInfo(facts.mountInfo).findLast((m) => m.mountPoint === facts.resolved);
  if (!top) return no(`${dataDir} is not a mount point`);
  if (facts.dataDev === null || facts.rootDev === null) {
    return no(`the device of ${facts.dataDev === null ? dataDir : '/'} could not be read`, top);
  }
  if (facts.dataDev === facts.rootDev) {
    return no(`${dataDir} is on the root filesystem (${top.source}; a bind mount from the root disk?)`, top);
  }
  return {
    mountPoint: dataDir,
    resolved: facts.resolved,
    mounted: true,
    device: top.source,
    majorMinor: top.majorMinor,
    reason: null,
  };
}

/** The file system reads the observation needs; tests inject a fake. */
export interface MountProbe {
  /** Resolved path, or null when it does not exist. */
  realpath(path: string): Promise<string | null>;
  /** st_dev, or null when it cannot be read. */
  deviceOf(path: string): Promise<number | null>;
  /** /proc/self/mountinfo, or null when it cannot be read. */
  mountInfo(): Promise<string | null>;
}

export const systemMountProbe: MountProbe = {
  async realpath(path) {
    try {
      return await realpath(path);
    } catch {
      return null;
    }
  },
  async deviceOf(path) {
    try {
      return (await stat(path)).dev;
    } catch {
      return null;
    }
  },
  mountInfo: () => readFile('/proc/self/mountinfo', 'utf8').catch(() => null),
};

/** Gathers the facts through `probe` (a failing read is an unknown fact) and decides. */
export async function observeDataMount(
  dataDir: string,
  probe: MountProbe = systemMountProbe,
): Promise<DataMount> {
  const orNull = <T>(p: () => Promise<T | null>): Promise<T | null> => p().catch(() => null);
  const resolved = await orNull(() => probe.realpath(dataDir));
  if (resolved === null)
    return decideDataMount({ dataDir, resolved, mountInfo: null, dataDev: null, rootDev: null });
  const [mountInfo, dataDev, rootDev] = await Promise.all([
    orNull(() => probe.mountInfo()),
    orNull(() => probe.deviceOf(resolved)),
    orNull(() => probe.deviceOf('/')),
  ]);
  return decideDataMount({ dataDir, resolved, mountInfo, dataDev, rootDev });
}
