import { join } from 'node:path';
import type { BootstrapContext, VolumeState } from '../context.ts';
import { ebsByIdName } from '../disk/resolve.ts';
import { FSTAB_MARKER, fstabEntry, mergeFstab, readFstab, writeFstab } from '../fstab.ts';
import { rooted, SystemPath } from '../paths.ts';
import { ensureVolume } from './disk.ts';
import { done, planned, type Step, unchanged } from './step.ts';

/**
 * Pure: what the fstab line mounts. On AWS (`volume.id`) the EBS volume's own
 * by-id link when it leads to the device: it names the volume id, which a
 * volume restored from a snapshot does not share, while `UUID=` matches every
 * copy of the filesystem. Otherwise (`volume.device`, Xen device names) `UUID=`;
 * the bootstrap refuses a second device with that UUID on every boot.
 */
export function fstabSource(
  volume: { id?: string; device?: string },
  state: Pick<VolumeState, 'uuid'>,
  byIdLeadsToVolume: boolean,
): string {
  if (!volume.device && volume.id && byIdLeadsToVolume) return `/dev/disk/by-id/${ebsByIdName(volume.id)}`;
  // In a dry run on a blank disk the UUID does not exist yet.
  return `UUID=${state.uuid ?? '<uuid of the new filesystem>'}`;
}

async function byIdLeadsTo(ctx: BootstrapContext, v: VolumeState): Promise<boolean> {
  const { volume } = ctx.config;
  if (volume.device || !volume.id) return false;
  const link = await ctx.host.realpath(join(ctx.devRoot, 'disk/by-id', ebsByIdName(volume.id)));
  return link !== undefined && link === (await ctx.host.realpath(v.device));
}

export const fstabStep: Step = {
  name: 'fstab',
  async run(ctx) {
    const v = await ensureVolume(ctx, ctx.dryRun);
    const path = rooted(ctx.root, SystemPath.fstab);
    const { dataDir } = ctx.config;
    const current = await readFstab(path);
    const source = fstabSource(ctx.config.volume, v, await byIdLeadsTo(ctx, v));
    const merge = mergeFstab(current.text, { source, dataDir, fsType: v.fsType });
    if (merge.action === 'unchanged') return unchanged(`${path} has the data volume line`);
    const line = fstabEntry({ source, dataDir, fsType: v.fsType });
    if (ctx.dryRun) {
      return planned([
        merge.action === 'added'
          ? `add to ${path} (after "${FSTAB_MARKER}"): ${line}`
          : `replace in ${path}: "${merge.previous}" with "${line}"`,
      ]);
    }
    const others = await writeFstab(ctx.shell, path, merge.text, current.mode, dataDir);
    const warn =
      others.length > 0 ? ` (findmnt --verify reports problems on other lines: ${others.join('; ')})` : '';
    return done(`${merge.action === 'added' ? 'added' : 'updated'} the data volume line in ${path}${warn}`);
  },
};
