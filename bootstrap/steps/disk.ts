import { requireKey } from '../../shared/config/load.ts';
import { HostError } from '../../shared/errors.ts';
import { runChecked } from '../../shared/shell.ts';
import type { BootstrapContext, VolumeState } from '../context.ts';
import { decideMount, observeDataDir } from '../disk/data-dir.ts';
import { mkfsCommand, readUuid, settleUdev } from '../disk/format.ts';
import { refuseCopies } from '../disk/identity.ts';
import { type DiskContents, inspectDisk } from '../disk/probe.ts';
import { waitForVolume } from '../disk/resolve.ts';
import { isRootDisk } from '../disk/root-disk.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export type DiskDecision =
  | { action: 'use'; uuid: string; label: string | undefined }
  | { action: 'format' }
  | { action: 'refuse'; message: string };

/** Pure: what to do with the device given what is on it. */
export function decideDisk(device: string, contents: DiskContents, fsType: string): DiskDecision {
  if (contents.kind === 'ours') return { action: 'use', uuid: contents.uuid, label: contents.label };
  if (contents.kind === 'blank') return { action: 'format' };
  return {
    action: 'refuse',
    message:
      `${device} holds ${contents.what}: not provably blank and not an ${fsType} filesystem, ` +
      'so it is neither formatted nor used as the data volume. Nothing was changed. ' +
      'Check volume.id/volume.device, or wipe the device yourself if its contents are expendable.',
  };
}

/**
 * Finds the volume, refuses the root disk, anything not provably ours or
 * blank, and a filesystem whose UUID another device carries too (a snapshot
 * copy). With `allowFormat` a blank device is formatted (or, in a dry run,
 * planned) — only after checking that nothing is in the way at dataDir, so a
 * refusal changes nothing. The result is cached for mount and fstab.
 */
export async function ensureVolume(ctx: BootstrapContext, allowFormat: boolean): Promise<VolumeState> {
  if (ctx.state.volume) return ctx.state.volume;
  const { volume } = ctx.config;
  requireKey(volume.device ?? volume.id, 'volume.id|volume.device', 'to find the data volume');
  const found = await waitForVolume(ctx, () => settleUdev(ctx, 1));
  const device = found.path;
  if (await isRootDisk(ctx.shell, device, (p) => ctx.host.realpath(p))) {
    throw new HostError(
      'unsafeDisk',
      `${device} is the root disk (it backs /): refusing to use it as the data volume`,
    );
  }
  const majorMinor = await ctx.host.deviceNumber(device);
  if (!majorMinor) throw new HostError('failure', `${device} is no longer a block device`);
  const contents = await inspectDisk(ctx.shell, device, volume.fsType);
  const decision = decideDisk(device, contents, volume.fsType);
  if (decision.action === 'refuse') throw new HostError('unsafeDisk', decision.message);
  const base = { device, majorMinor, how: found.how, fsType: volume.fsType };
  if (decision.action === 'use') {
    await refuseCopies(ctx.shell, ctx.host, { device, majorMinor, uuid: decision.uuid });
    ctx.state.volume = { ...base, uuid: decision.uuid, label: decision.label, formatted: false };
    return ctx.state.volume;
  }
  if (!allowFormat) {
    throw new HostError('failure', `${device} is blank: run the disk step first to format it`);
  }
  // Before anything is written: what mount would refuse later (another device at dataDir,
  // content on the root disk under it) is refused now, with the device still blank.
  const atDataDir = decideMount(
    { device, majorMinor, uuid: undefined },
    ctx.config.dataDir,
    await observeDataDir(ctx),
  );
  if (atDataDir.action === 'refuse') {
    throw new HostError('unsafeDisk', `${atDataDir.message} (${device} is blank and was not formatted)`);
  }
  if (ctx.dryRun) {
    ctx.state.volume = { ...base, uuid: undefined, label: volume.label, formatted: true };
    return ctx.state.volume;
  }
  const [cmd, args] = mkfsCommand(volume.fsType, volume.label, device);
  ctx.progress(`formatting ${device} (${volume.fsType})`);
  await runChecked(ctx.shell, cmd, args);
  await settleUdev(ctx);
  const uuid = await readUuid(ctx.shell, device);
  ctx.state.volume = { ...base, uuid, label: volume.label, formatted: true };
  return ctx.state.volume;
}

export const diskStep: Step = {
  name: 'disk',
  async run(ctx) {
    const v = await ensureVolume(ctx, true);
    const where = `${v.device} (found by ${v.how})`;
    if (ctx.dryRun && v.formatted) {
      return planned([`format blank ${where} as ${v.fsType} with label ${ctx.config.volume.label}`]);
    }
    if (v.formatted) return done(`formatted ${where}: ${v.fsType}, label ${v.label}, UUID ${v.uuid}`);
    const label = v.label ? `, label ${v.label}` : ', no label';
    return unchanged(`${where} already holds our ${v.fsType} filesystem${label}, UUID ${v.uuid}`);
  },
};
