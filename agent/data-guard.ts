/**
 * The data guard's IO: the mount decision for dataDir (shared/mount) and the
 * device each bind under dataDir is on as its container sees it. The decision
 * over these facts is agent/supervisor/data-binds.ts (pure).
 */
import { readFile, stat } from 'node:fs/promises';
import type { ContainerInfo, ContainerMount } from '../shared/engine/docker/types.ts';
import {
  type DataMount,
  type MountProbe,
  observeDataMount,
  parseMountInfo,
} from '../shared/mount/data-mount.ts';
import { majorMinorOf } from './supervisor/data-binds.ts';

export interface DataGuard {
  readonly dataDir: string;
  /** shared/mount's decision for dataDir, taken now. */
  mount(): Promise<DataMount>;
  /** `major:minor` of each bind as the container sees it, in order; null where it cannot be read. */
  bindDevices(c: ContainerInfo, binds: readonly ContainerMount[]): Promise<Array<string | null>>;
}

export interface DataGuardIo {
  /** A file's text, or null when it cannot be read (a container's /proc/<pid>/mountinfo). */
  readText(path: string): Promise<string | null>;
  /** st_dev of a path on the host, or null. */
  statDev(path: string): Promise<bigint | null>;
}

const systemIo: DataGuardIo = {
  readText: (path) => readFile(path, 'utf8').catch(() => null),
  statDev: (path) =>
    stat(path, { bigint: true }).then(
      (s) => s.dev,
      () => null,
    ),
};

export function systemDataGuard(dataDir: string, mounts: MountProbe, io: DataGuardIo = systemIo): DataGuard {
  return {
    dataDir,
    mount: () => observeDataMount(dataDir, mounts),
    async bindDevices(c, binds) {
      // The container's own mount table: the filesystem each bind really is, even when the host
      // path is now covered by another mount (a root-disk directory under a later volume mount).
      // Mount points there are relative to the container's root, like Docker's Destination.
      const inside = c.pid === null ? null : await io.readText(`/proc/${c.pid}/mountinfo`);
      const table = inside === null ? [] : parseMountInfo(inside);
      return Promise.all(
        binds.map(async (b) => {
          const entry = table.findLast((m) => m.mountPoint === b.destination);
          if (entry) return entry.majorMinor;
          // Between lives (restarting) there is no process: the host path is the next best fact.
          const dev = await io.statDev(b.source);
          return dev === null ? null : majorMinorOf(dev);
        }),
      );
    },
  };
}
