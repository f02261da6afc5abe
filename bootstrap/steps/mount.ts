import { mkdir } from 'node:fs/promises';
import { HostError } from '../../shared/errors.ts';
import { observeDataMount } from '../../shared/mount/data-mount.ts';
import { runChecked } from '../../shared/shell.ts';
import { decideMount, observeDataDir } from '../disk/data-dir.ts';
import { ensureVolume } from './disk.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export { decideMount, type MountDecision } from '../disk/data-dir.ts';

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
    await runChecked(ctx.shell, 'mount', ['-t', v.fsType, v.device, dataDir]);
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
