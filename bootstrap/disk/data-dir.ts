import { HostError } from '../../shared/errors.ts';
import { observeDataMount } from '../../shared/mount/data-mount.ts';
import type { BootstrapContext } from '../context.ts';

/** What is at dataDir before the data volume is (or is found) mounted there. */
export interface DataDirObservation {
  /** The top-most mount at dataDir, when dataDir is a mount point. */
  mounted: { source: string; majorMinor: string | null; uuid: string | undefined } | undefined;
  /** Entries in dataDir when nothing is mounted there (on the root disk); empty when it does not exist. */
  entries: string[];
}

export type MountDecision = { action: 'none' } | { action: 'mount' } | { action: 'refuse'; message: string };

const MAX_LISTED = 5;

/**
 * Pure: the data volume (by device number) already mounted → nothing; another
 * device → refuse; nothing mounted but dataDir holds something → refuse (it
 * sits on the root disk: a container or process wrote there while the volume
 * was missing, and a mount would hide it); else mount.
 */
export function decideMount(
  volume: { device: string; majorMinor: string; uuid: string | undefined },
  dataDir: string,
  seen: DataDirObservation,
): MountDecision {
  const { mounted, entries } = seen;
  if (mounted) {
    if (mounted.majorMinor === volume.majorMinor) return { action: 'none' };
    const sameUuid = volume.uuid !== undefined && mounted.uuid === volume.uuid;
    return {
      action: 'refuse',
      message:
        `${dataDir} already has ${mounted.source}${mounted.majorMinor ? ` (${mounted.majorMinor})` : ''}` +
        `${mounted.uuid ? ` (UUID ${mounted.uuid})` : ''} mounted, not the data volume ${volume.device} ` +
        `(${volume.majorMinor})${volume.uuid ? ` (UUID ${volume.uuid})` : ''}` +
        (sameUuid ? ': same filesystem UUID on another device, a snapshot copy or clone?' : '') +
        ': unmount it first',
    };
  }
  if (entries.length > 0) {
    const shown = entries.slice(0, MAX_LISTED).join(', ') + (entries.length > MAX_LISTED ? ', …' : '');
    return {
      action: 'refuse',
      message:
        `${dataDir} is not mounted but already holds ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} ` +
        `on the root disk (${shown}): something wrote there while the data volume was missing, and ` +
        'mounting over it would hide it. Nothing was changed. Move them out of the way (check whether ' +
        'they hold anything you need), then run the bootstrap again.',
    };
  }
  return { action: 'mount' };
}

async function listEntries(ctx: BootstrapContext, dir: string): Promise<string[]> {
  try {
    return await ctx.host.listDir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new HostError('unsafeDisk', `${dir} exists and is not a directory`);
    throw err;
  }
}

/** Reads what is at dataDir (mount table, UUID of a mounted device, entries on the root disk). */
export async function observeDataDir(ctx: BootstrapContext): Promise<DataDirObservation> {
  const { dataDir } = ctx.config;
  const top = await observeDataMount(dataDir, ctx.mounts);
  if (!top.device) return { mounted: undefined, entries: await listEntries(ctx, dataDir) };
  const uuidOut = top.device.startsWith('/dev/')
    ? await ctx.shell.run('blkid', ['-p', '-s', 'UUID', '-o', 'value', top.device])
    : undefined;
  return {
    mounted: {
      source: top.device,
      majorMinor: top.majorMinor,
      uuid: uuidOut?.exitCode === 0 ? uuidOut.stdout.trim() || undefined : undefined,
    },
    entries: [],
  };
}
