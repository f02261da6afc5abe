import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Shell } from '../../shared/shell.ts';
import { majorMinor } from './loop.ts';

/**
 * A stand-in for udev's coldplug of the one data volume. nspawn machines run no
 * udev, so systemd inside never sees a `dev-disk-by\x2duuid-….device` and the
 * fstab line's mount would wait for it until its device timeout. On an instance
 * udev announces the disk at boot; here the rehearsal writes the same udev
 * database entry and /dev/disk links before each boot and binds them in
 * (/run/udev and /dev/disk), which systemd reads when it enumerates devices.
 */
export interface UdevDevice {
  /** Kernel name, e.g. loop3. */
  name: string;
  /** "major:minor". */
  majorMinor: string;
  /** Filesystem UUID/type when the disk has one (after the first boot formatted it). */
  fsUuid?: string;
  fsType?: string;
  fsLabel?: string;
}

/** Pure: the udev database record (`/run/udev/data/b<maj>:<min>`) systemd reads for a block device. */
export function udevDbRecord(d: UdevDevice): string {
  const lines: string[] = [];
  if (d.fsUuid) lines.push(`S:disk/by-uuid/${d.fsUuid}`);
  if (d.fsLabel) lines.push(`S:disk/by-label/${d.fsLabel}`);
  // I: marks the device initialised by udev; G:/Q: tag it for systemd.
  lines.push('I:1');
  if (d.fsUuid) lines.push(`E:ID_FS_UUID=${d.fsUuid}`, 'E:ID_FS_USAGE=filesystem');
  if (d.fsType) lines.push(`E:ID_FS_TYPE=${d.fsType}`);
  if (d.fsLabel) lines.push(`E:ID_FS_LABEL=${d.fsLabel}`);
  lines.push('G:systemd', 'Q:systemd', 'V:1');
  return `${lines.join('\n')}\n`;
}

export interface UdevStandinDirs {
  /** Bound at /run/udev. */
  runUdev: string;
  /** Bound at /dev/disk. */
  devDisk: string;
}

export function udevStandinDirs(dir: string): UdevStandinDirs {
  return { runUdev: path.join(dir, 'run-udev'), devDisk: path.join(dir, 'dev-disk') };
}

/**
 * (Re)writes the udev database and /dev/disk links in place. The directories
 * themselves stay (they are bind mounts of a running machine), so an update
 * made while it runs is what udev's change event after mkfs would do; systemd
 * sees it at its next device enumeration (boot or daemon-reload).
 */
export async function writeUdevStandin(dirs: UdevStandinDirs, device: UdevDevice | undefined): Promise<void> {
  const subdirs = [
    path.join(dirs.runUdev, 'data'),
    path.join(dirs.runUdev, 'tags', 'systemd'),
    path.join(dirs.devDisk, 'by-uuid'),
    path.join(dirs.devDisk, 'by-label'),
  ];
  for (const d of subdirs) {
    await mkdir(d, { recursive: true });
    for (const name of await readdir(d)) await rm(path.join(d, name), { force: true });
  }
  if (!device) return;
  const key = `b${device.majorMinor}`;
  await writeFile(path.join(dirs.runUdev, 'data', key), udevDbRecord(device));
  await writeFile(path.join(dirs.runUdev, 'tags', 'systemd', key), '');
  if (device.fsUuid) await symlink(`../../${device.name}`, path.join(dirs.devDisk, 'by-uuid', device.fsUuid));
  if (device.fsLabel)
    await symlink(`../../${device.name}`, path.join(dirs.devDisk, 'by-label', device.fsLabel));
}

export interface Filesystem {
  uuid?: string;
  type?: string;
  label?: string;
}

/** Pure: UUID/TYPE/LABEL from `blkid -p -o export` output (all undefined for a blank disk). */
export function parseBlkidExport(out: string): Filesystem {
  const get = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(out)?.[1];
  return { uuid: get('UUID'), type: get('TYPE'), label: get('LABEL') };
}

/** The filesystem on `device` as udev's blkid builtin would see it (probing the disk, not a cache). */
export async function probeFilesystem(shell: Shell, device: string): Promise<Filesystem> {
  return parseBlkidExport((await shell.run('blkid', ['-p', '-o', 'export', device])).stdout);
}

/** What udev would announce: the volume `device` with its filesystem as it is now, or no disk at all. */
export async function announceVolume(
  shell: Shell,
  dirs: UdevStandinDirs,
  device: string | undefined,
): Promise<void> {
  if (!device) return writeUdevStandin(dirs, undefined);
  const fs = await probeFilesystem(shell, device);
  await writeUdevStandin(dirs, {
    name: path.basename(device),
    majorMinor: await majorMinor(shell, device),
    fsUuid: fs.uuid,
    fsType: fs.type,
    fsLabel: fs.label,
  });
}
