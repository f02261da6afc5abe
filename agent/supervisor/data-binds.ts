/**
 * "Is every running container's state on the data volume?" as a pure
 * decision. The mount side is shared/mount/data-mount.ts's one decision
 * (dataDir is the data volume's mount, its device from mountinfo); this adds
 * the containers: a bind whose source is under dataDir counts as on the
 * volume only while dataDir is the volume's mount AND the bind, as the
 * container sees it, is on the volume's device. The second half catches a
 * directory Docker bound from the root disk before the volume was mounted
 * over it: the host path then shows the volume, the container still writes
 * to the root disk. The facts (devices) are gathered at the edge
 * (agent/data-guard.ts).
 */
import type { ContainerInfo, ContainerMount } from '../../shared/engine/docker/types.ts';
import type { DataMount } from '../../shared/mount/data-mount.ts';

/** The words that lead the status reason, the STATUS= line and the log line. */
export const DATA_VOLUME_MISSING = 'data volume missing';

/** Docker states in which a container holds its binds (a restarting one will again at once). */
const HOLDING = new Set(['running', 'restarting', 'paused']);

/** Pure: the container's binds whose source is dataDir or under it (by its configured or resolved path). */
export function dataBinds(c: ContainerInfo, dataDir: string, resolved: string | null): ContainerMount[] {
  const roots = [...new Set([dataDir, resolved].filter((r): r is string => !!r))].map((r) =>
    r.replace(/\/+$/, ''),
  );
  return c.mounts.filter(
    (m) =>
      m.type === 'bind' && roots.some((r) => m.source === r || m.source.startsWith(r === '' ? '/' : `${r}/`)),
  );
}

/** Containers the check looks at: they hold binds under dataDir now. */
export function holdsDataBinds(c: ContainerInfo, dataDir: string, resolved: string | null): boolean {
  return HOLDING.has(c.state) && dataBinds(c, dataDir, resolved).length > 0;
}

/** Key of one bind's device observation. */
export const bindKey = (containerId: string, destination: string) => `${containerId}\u0000${destination}`;

/** A service holding a bind under dataDir that is not on the data volume at dataDir. */
export interface DataOffender {
  /** What is wrong, in words. */
  why: string;
  /**
   * The bind is on the data volume's filesystem, which is no longer mounted at
   * dataDir (pulled while running): what it wrote is on the volume. False when
   * it is on another device (the root disk): its writes since it started are
   * not where the stack's data is.
   */
  onVolume: boolean;
}

export interface DataVolumeCheck {
  /** dataDir is the data volume's mount and every bind under it that a container holds is on it. */
  ok: boolean;
  /** `data volume missing: …` when not ok, else null. */
  reason: string | null;
  /** Services holding a bind under dataDir that is not on the data volume at dataDir. */
  offenders: Map<string, DataOffender>;
}

export interface DataVolumeFacts {
  dataDir: string;
  /** shared/mount's decision for dataDir, taken now. */
  mount: DataMount;
  /** `major:minor` of the data volume when it was last seen mounted at dataDir (null: never). */
  lastVolumeDevice: string | null;
  containers: readonly ContainerInfo[];
  /** bindKey → `major:minor` the bind is on as its container sees it; null or absent = could not be read. */
  bindDevices: ReadonlyMap<string, string | null>;
}

/**
 * Pure. With the volume not mounted every container holding a bind under
 * dataDir is an offender; with it mounted, those whose bind is on another
 * device. A bind whose device could not be read while the volume is mounted
 * (the container exited in between) is left for the next check rather than
 * stopping a healthy service.
 */
export function checkDataVolume(f: DataVolumeFacts): DataVolumeCheck {
  const offenders = new Map<string, DataOffender>();
  const holders = f.containers.filter((c) => holdsDataBinds(c, f.dataDir, f.mount.resolved));
  const devOf = (c: ContainerInfo, b: ContainerMount) =>
    f.bindDevices.get(bindKey(c.id, b.destination)) ?? null;
  if (!f.mount.mounted) {
    for (const c of holders) {
      const binds = dataBinds(c, f.dataDir, f.mount.resolved);
      const onVolume = f.lastVolumeDevice !== null && binds.every((b) => devOf(c, b) === f.lastVolumeDevice);
      const prev = offenders.get(c.service);
      offenders.set(c.service, {
        why: prev?.why ?? `${c.name} binds ${binds[0]!.source} while ${f.dataDir} is not the data volume`,
        onVolume: (prev?.onVolume ?? true) && onVolume,
      });
    }
    return {
      ok: false,
      reason: `${DATA_VOLUME_MISSING}: ${f.mount.reason ?? `${f.dataDir} is not mounted`}`,
      offenders,
    };
  }
  for (const c of holders) {
    for (const b of dataBinds(c, f.dataDir, f.mount.resolved)) {
      const dev = devOf(c, b);
      if (dev === null || dev === f.mount.majorMinor || offenders.has(c.service)) continue;
      offenders.set(c.service, {
        why:
          `${c.name}'s ${b.destination} (${b.source}) is on device ${dev}, not on the data volume ` +
          `(${f.mount.device}, ${f.mount.majorMinor}): bound before the volume was mounted?`,
        onVolume: false,
      });
    }
  }
  if (offenders.size === 0) return { ok: true, reason: null, offenders };
  const [first] = offenders.values();
  return { ok: false, reason: `${DATA_VOLUME_MISSING}: ${first!.why}`, offenders };
}

/** Pure: Linux's st_dev as `major:minor` (the encoding of glibc's gnu_dev_major/minor), as mountinfo writes it. */
export function majorMinorOf(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return `${major}:${minor}`;
}
