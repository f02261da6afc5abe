import { mkdir, readdir } from 'node:fs/promises';
import { HostError } from '../../shared/errors.ts';
import { observeDataMount } from '../../shared/mount/data-mount.ts';
import { runChecked } from '../../shared/shell.ts';
import type { BootstrapContext } from '../context.ts';
import { ensureVolume } from './disk.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export type MountDecision = { action: 'none' } | { action: 'mount' } | { action: 'refuse'; message: string };

/** Pure: mounted from the same filesystem → nothing; another device → refuse; else mount. */
export function decideMount(
  volume: { device: string; uuid: string | undefined },
  dataDir: string,
  mounted: { source: string; realSource: string | undefined; uuid: string | undefined } | undefined,
  realDevice: string | undefined,
): MountDecision {
  if (!mounted) return { action: 'mount' };
  if (mounted.realSource && realDevice && mounted.realSource === realDevice) return { action: 'none' };
  if (volume.uuid && mounted.uuid === volume.uuid) return { action: 'none' };
  return {
    action: 'refuse',
    message:
      `${dataDir} already has ${mounted.source}${mounted.uuid ? ` (UUID ${mounted.uuid})` : ''} mounted, ` +
      `not the data volume ${volume.device}${volume.uuid ? ` (UUID ${volume.uuid})` : ''}: unmount it first`,
  };
}

/** What is mounted at dataDir (the top-most mount), whether or not it counts as the data volume. */
async function observe(ctx: BootstrapContext, dataDir: string) {
  const source = (await observeDataMount(dataDir, ctx.mounts)).device;
  if (!source) return undefined;
  const realSource = source.startsWith('/') ? await ctx.host.realpath(source) : undefined;
  const uuidOut = source.startsWith('/dev/')
    ? await ctx.shell.run('blkid', ['-p', '-s', 'UUID', '-o', 'value', source])
    : undefined;
  return {
    source,
    realSource,
    uuid: uuidOut?.exitCode === 0 ? uuidOut.stdout.trim() || undefined : undefined,
  };
}

export const mountStep: Step = {
  name: 'mount',
  async run(ctx) {
    const v = await ensureVolume(ctx, ctx.dryRun);
    const { dataDir } = ctx.config;
    const mounted = await observe(ctx, dataDir);
    const decision = decideMount(v, dataDir, mounted, await ctx.host.realpath(v.device));
    if (decision.action === 'refuse') throw new HostError('unsafeDisk', decision.message);
    if (decision.action === 'none') return unchanged(`${v.device} is mounted at ${dataDir}`);
    if (ctx.dryRun) return planned([`create ${dataDir} and mount ${v.device} (${v.fsType}) on it`]);

    await mkdir(dataDir, { recursive: true });
    // Anything already in dataDir sits on the root disk and will be hidden by the mount: say so.
    const hidden = (await readdir(dataDir)).filter((n) => n !== 'lost+found');
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
    if (!now.mounted) {
      throw new HostError(
        'failure',
        `mount reported success but the data volume is not mounted: ${now.reason}`,
      );
    }
    const note =
      hidden.length > 0
        ? ` (warning: ${hidden.length} entries already in ${dataDir} on the root disk are now hidden under the mount)`
        : '';
    return done(`mounted ${v.device} at ${dataDir}${note}`);
  },
};
