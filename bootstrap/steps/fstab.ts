import { FSTAB_MARKER, fstabEntry, mergeFstab, readFstab, writeFstab } from '../fstab.ts';
import { rooted, SystemPath } from '../paths.ts';
import { ensureVolume } from './disk.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export const fstabStep: Step = {
  name: 'fstab',
  async run(ctx) {
    const v = await ensureVolume(ctx, ctx.dryRun);
    const path = rooted(ctx.root, SystemPath.fstab);
    const { dataDir } = ctx.config;
    const current = await readFstab(path);
    // In a dry run on a blank disk the UUID does not exist yet.
    const uuid = v.uuid ?? '<uuid of the new filesystem>';
    const merge = mergeFstab(current.text, { uuid, dataDir, fsType: v.fsType });
    if (merge.action === 'unchanged') return unchanged(`${path} has the data volume line`);
    const line = fstabEntry({ uuid, dataDir, fsType: v.fsType });
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
