import { mkdir, readdir } from 'node:fs/promises';
import { HostError } from '../../shared/errors.ts';
import { runChecked, type Shell } from '../../shared/shell.ts';
import type { BootstrapContext } from '../context.ts';
import { stripSubvolume } from '../disk/root-disk.ts';
import { ensureVolume } from './disk.ts';
import { done, planned, type Step, unchanged } from './step.ts';

/** What is mounted at a path right now (the top-most mount), or undefined. */
export async function mountedSource(shell: Shell, dir: string): Promise<string | undefined> {
  const r = await shell.run('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', dir]);
  if (r.exitCode !== 0) return undefined;
  const lines = r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  const last = lines[lines.length - 1];
  return last ? stripSubvolume(last) : undefined;
}

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

async function observe(ctx: BootstrapContext, dataDir: string) {
  const source = await mountedSource(ctx.shell, dataDir);
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
    const now = await mountedSource(ctx.shell, dataDir);
    if (!now) throw new HostError('failure', `mount reported success but nothing is mounted at ${dataDir}`);
    const note =
      hidden.length > 0
        ? ` (warning: ${hidden.length} entries already in ${dataDir} on the root disk are now hidden under the mount)`
        : '';
    return done(`mounted ${v.device} at ${dataDir}${note}`);
  },
};
