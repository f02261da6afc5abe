import { existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { Clock, HostProbe } from './context.ts';

/** The real host. */
export const realHost: HostProbe = {
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

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
