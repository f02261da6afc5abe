import { pino } from 'pino';
import type { BootstrapContext } from '../../../bootstrap/context.ts';
import { realHost } from '../../../bootstrap/host.ts';
import { NETWORK_LIMITS } from '../../../bootstrap/network-limits.ts';
import type { HostConfig } from '../../../shared/config/schema.ts';
import { systemMountProbe } from '../../../shared/mount/data-mount.ts';
import type { Shell } from '../../../shared/shell.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

/**
 * A bootstrap context on this machine (its real host probes and mounts) for running one step
 * in-process. The backoff between attempts is not what such tests look at: the clock is fake, so
 * retries do not really wait; there is no SSM.
 */
export function realContext(
  config: HostConfig,
  shell: Shell,
  over: Partial<Omit<BootstrapContext, 'config' | 'shell'>> = {},
): BootstrapContext {
  return {
    config,
    configPath: '/etc/dalston/host.json',
    root: '/',
    dryRun: false,
    shell,
    host: realHost,
    mounts: systemMountProbe,
    clock: new FakeClock(),
    log: pino({ level: 'silent' }),
    sysfsRoot: '/sys',
    devRoot: '/dev',
    progress: () => {},
    ssm: () => {
      throw new Error('no SSM here');
    },
    limits: NETWORK_LIMITS,
    state: {},
    ...over,
  };
}
