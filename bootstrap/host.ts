import { existsSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import type { HostFacts } from './context.ts';
import { formatDevNumber } from './disk/identity.ts';

/** The real host. */
export const realHost: HostFacts = {
  async isBlockDevice(path) {
    try {
      return (await stat(path)).isBlockDevice();
    } catch {
      return false;
    }
  },
  async realpath(path) {
    try {
      return await realpath(path);
    } catch {
      return undefined;
    }
  },
  async deviceNumber(path) {
    try {
      const st = await stat(path, { bigint: true });
      return st.isBlockDevice() ? formatDevNumber(st.rdev) : undefined;
    } catch {
      return undefined;
    }
  },
  async listDir(path) {
    try {
      return (await readdir(path)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  },
  systemdRunning: () => existsSync('/run/systemd/system'),
  udevRunning: () => existsSync('/run/udev/control'),
};
