import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { HostError } from '../../shared/errors.ts';
import type { BootstrapContext } from '../context.ts';

/** EC2 puts the volume id without its dash in the NVMe controller serial: vol-0abc → vol0abc. */
export function nvmeSerialOf(volumeId: string): string {
  return volumeId.replace('-', '');
}

/** The NVMe namespace (`/dev/nvmeXnY`) whose controller serial is `serial`, from a sysfs tree. */
export async function nvmeBySerial(sysfsRoot: string, serial: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(join(sysfsRoot, 'block'));
  } catch {
    return undefined;
  }
  for (const name of names.filter((n) => /^nvme\d+n\d+$/.test(n)).sort()) {
    try {
      const s = await readFile(join(sysfsRoot, 'block', name, 'device', 'serial'), 'utf8');
      if (s.trim() === serial) return `/dev/${name}`;
    } catch {
      // a namespace without a readable serial is not ours
    }
  }
  return undefined;
}

/** The udev by-id link name of an EBS volume on Nitro (60-persistent-storage: model + serial). */
export function ebsByIdName(volumeId: string): string {
  return `nvme-Amazon_Elastic_Block_Store_${nvmeSerialOf(volumeId)}`;
}

export interface Candidate {
  path: string;
  how: string;
}

/**
 * Where the data volume may appear, best first. An explicit `volume.device`
 * is the only candidate; otherwise NVMe serial (looked up anew on each poll),
 * the udev by-id link, then the API device-name links as a last resort.
 */
export function staticCandidates(volume: { id?: string; device?: string }, devRoot: string): Candidate[] {
  if (volume.device) return [{ path: volume.device, how: 'volume.device' }];
  if (!volume.id) return [];
  return [
    { path: join(devRoot, 'disk/by-id', ebsByIdName(volume.id)), how: 'by-id link' },
    { path: join(devRoot, 'sdf'), how: 'API device name' },
    { path: join(devRoot, 'xvdf'), how: 'API device name' },
  ];
}

/** One look for the volume; undefined when no candidate is a block device yet. */
export async function findVolumeOnce(ctx: BootstrapContext): Promise<Candidate | undefined> {
  const { volume } = ctx.config;
  if (!volume.device && volume.id) {
    const bySerial = await nvmeBySerial(ctx.sysfsRoot, nvmeSerialOf(volume.id));
    if (bySerial && (await ctx.host.isBlockDevice(bySerial))) return { path: bySerial, how: 'NVMe serial' };
  }
  for (const c of staticCandidates(volume, ctx.devRoot)) {
    if (!(await ctx.host.isBlockDevice(c.path))) continue;
    if (c.how === 'API device name' && volume.id) {
      // On Nitro the /dev/sdf link points at some NVMe device: accept it only if
      // that device's serial is our volume (it may be another attachment).
      const real = await ctx.host.realpath(c.path);
      const name = real ? basename(real) : '';
      if (/^nvme\d+n\d+$/.test(name)) {
        const found = await nvmeBySerial(ctx.sysfsRoot, nvmeSerialOf(volume.id));
        if (found !== `/dev/${name}`) continue;
      }
    }
    return c;
  }
  return undefined;
}

export function describeVolume(volume: { id?: string; device?: string }): string {
  return volume.device ? `volume.device ${volume.device}` : `EBS volume ${volume.id}`;
}

/**
 * Polls until the volume is a block device, settling udev between looks
 * (the attachment may land after boot). Exit 69 when it never appears.
 */
export async function waitForVolume(
  ctx: BootstrapContext,
  settle: () => Promise<void>,
  pollMs = 1000,
): Promise<Candidate> {
  const { volume } = ctx.config;
  const deadline = ctx.clock.now() + volume.waitSeconds * 1000;
  const start = ctx.clock.now();
  let lastReport = start;
  for (;;) {
    const found = await findVolumeOnce(ctx);
    if (found) return found;
    const now = ctx.clock.now();
    if (now >= deadline) {
      const looked = staticCandidates(volume, ctx.devRoot).map((c) => c.path);
      if (!volume.device && volume.id) looked.unshift(`NVMe with serial ${nvmeSerialOf(volume.id)}`);
      throw new HostError(
        'unavailable',
        `data volume not found: ${describeVolume(volume)} did not appear as a block device within ` +
          `${volume.waitSeconds} s (looked for ${looked.join(', ')}); is it attached to this instance?`,
      );
    }
    if (now - lastReport >= 10_000) {
      lastReport = now;
      ctx.progress(
        `waiting for ${describeVolume(volume)} (${Math.round((now - start) / 1000)} s of ${volume.waitSeconds} s)`,
      );
    }
    await settle();
    await ctx.clock.sleep(Math.min(pollMs, Math.max(0, deadline - ctx.clock.now())));
  }
}
