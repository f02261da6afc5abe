import { existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { HostFacts } from './context.ts';

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
  systemdRunning: () => existsSync('/run/systemd/system'),
  udevRunning: () => existsSync('/run/udev/control'),
};
