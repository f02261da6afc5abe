import { mkdir } from 'node:fs/promises';
import { HostError } from '../../shared/errors.ts';
import { observeDataMount } from '../../shared/mount/data-mount.ts';
import { runChecked } from '../../shared/shell.ts';
import { decideMount, observeDataDir } from '../disk/data-dir.ts';
import { ensureVolume } from './disk.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export { decideMount, type MountDecision } from '../disk/data-dir.ts';

/**
 * Pure: the command that mounts the data volume. Under systemd, a transient
 * unit (`systemd-run`) mounts it in PID 1's mount namespace: the sandbox of
 * dalston-bootstrap.service (PrivateTmp= and the Protect*= settings) gives the
 * bootstrap a mount namespace of its own, and a mount made there is seen by no
 * other process and gone when the run ends, so after a volume swap (or a volume
 * attached after fstab's device timeout) the host had no /data and the stack
 * never started. The mount in PID 1's namespace propagates into the sandbox.
 */
export function mountCommand(
  v: { device: string; fsType: string },
  dataDir: string,
  systemdRunning: boolean,
): [string, string[]] {
  const mount = ['mount', '-t', v.fsType, v.device, dataDir];
  if (!systemdRunning) return [mount[0]!, mount.slice(1)];
  // --pipe: mount's own error, if any, comes back to us (and into the step's failure).
  return [
    'systemd-run',
    [
      '--wait',
      '--pipe',
      '--collect',
      '--quiet',
      `--description=dalston-host: mount the data volume at ${dataDir}`,
      ...mount,
    ],
  ];
}

export const mountStep: Step = {
  name: 'mount',
  async run(ctx) {
    const v = await ensureVolume(ctx, ctx.dryRun);
    const { dataDir } = ctx.config;
    const decision = decideMount(v, dataDir, await observeDataDir(ctx));
    if (decision.action === 'refuse') throw new HostError('unsafeDisk', decision.message);
    if (decision.action === 'none')
      return unchanged(`${v.device} (${v.majorMinor}) is mounted at ${dataDir}`);
    if (ctx.dryRun) return planned([`create ${dataDir} and mount ${v.device} (${v.fsType}) on it`]);

    await mkdir(dataDir, { recursive: true });
    // Re-read the UUID right before mounting: the device must still be the one we checked.
    const uuid = (await ctx.shell.run('blkid', ['-p', '-s', 'UUID', '-o', 'value', v.device])).stdout.trim();
    if (!v.uuid || uuid !== v.uuid) {
      throw new HostError(
        'unsafeDisk',
        `${v.device} changed under us: UUID is now "${uuid}", expected ${v.uuid}`,
      );
    }
    const [cmd, args] = mountCommand(v, dataDir, ctx.host.systemdRunning());
    await runChecked(ctx.shell, cmd, args);
    const now = await observeDataMount(dataDir, ctx.mounts);
    if (!now.mounted || now.majorMinor !== v.majorMinor) {
      throw new HostError(
        'failure',
        `mount reported success but the data volume ${v.device} (${v.majorMinor}) is not what is mounted at ${dataDir}: ` +
          (now.reason ?? `${now.device} (${now.majorMinor}) is`),
      );
    }
    return done(`mounted ${v.device} at ${dataDir}`);
  },
};
