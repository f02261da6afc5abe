import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkfsCommand } from '../../../bootstrap/disk/format.ts';
import { classifyDisk } from '../../../bootstrap/disk/probe.ts';
import {
  findVolumeOnce,
  nvmeBySerial,
  nvmeSerialOf,
  waitForVolume,
} from '../../../bootstrap/disk/resolve.ts';
import { decideDisk, diskStep, ensureVolume } from '../../../bootstrap/steps/disk.ts';
import { ConfigError, HostError } from '../../../shared/errors.ts';
import { fail, fakeContext, fakeHost, ok, when } from './fakes.ts';

const r = (exitCode: number, stdout = '', stderr = '') => ({ exitCode, stdout, stderr });
const noChildren = r(0, 'nvme1n1\n');

describe('blank-disk rule (classifyDisk)', () => {
  it('blank only when blkid exits 2, lsblk has no children and wipefs finds nothing', () => {
    expect(classifyDisk({ blkid: r(2), lsblk: noChildren, wipefs: r(0, '') }, 'ext4')).toEqual({
      kind: 'blank',
    });
  });
  it('wipefs disagreeing with blkid is not blank', () => {
    const c = classifyDisk({ blkid: r(2), lsblk: noChildren, wipefs: r(0, 'zfs_member 0x3f000\n') }, 'ext4');
    expect(c).toEqual({ kind: 'foreign', what: 'signatures found by wipefs (zfs_member 0x3f000)' });
  });
  it('any other blkid failure is not blank', () => {
    expect(classifyDisk({ blkid: r(4, '', 'Permission denied'), lsblk: noChildren }, 'ext4')).toEqual({
      kind: 'foreign',
      what: 'an unreadable device (blkid -p exit 4: Permission denied)',
    });
    expect(classifyDisk({ blkid: r(8), lsblk: noChildren }, 'ext4').kind).toBe('foreign');
    expect(
      classifyDisk({ blkid: r(2), lsblk: noChildren, wipefs: r(1, '', 'I/O error') }, 'ext4'),
    ).toMatchObject({
      kind: 'foreign',
      what: expect.stringContaining('I/O error'),
    });
    expect(classifyDisk({ blkid: r(2), lsblk: r(32, '', 'not a block device') }, 'ext4').kind).toBe(
      'foreign',
    );
  });
  it('children (partitions) are not blank', () => {
    expect(classifyDisk({ blkid: r(2), lsblk: r(0, 'nvme1n1\nnvme1n1p1\n'), wipefs: r(0) }, 'ext4')).toEqual({
      kind: 'foreign',
      what: 'partitions or holders (nvme1n1p1)',
    });
  });
  it('names what it found', () => {
    const found = (tags: string) => classifyDisk({ blkid: r(0, tags), lsblk: noChildren }, 'ext4');
    expect(found('DEVNAME=/dev/x\nUUID=u\nTYPE=xfs\nUSAGE=filesystem\n')).toEqual({
      kind: 'foreign',
      what: 'an xfs filesystem',
    });
    expect(found('PTUUID=3ac5e32e\nPTTYPE=dos\n')).toEqual({
      kind: 'foreign',
      what: 'a dos partition table',
    });
    expect(found('PTTYPE=gpt\n').kind).toBe('foreign');
    expect(found('UUID=u\nTYPE=crypto_LUKS\nUSAGE=crypto\n')).toEqual({
      kind: 'foreign',
      what: 'a LUKS encrypted volume (crypto_LUKS)',
    });
    expect(found('TYPE=ext4\nUUID=abc\nLABEL=other\n')).toEqual({
      kind: 'ours',
      uuid: 'abc',
      label: 'other',
    });
    expect(classifyDisk({ blkid: r(0, 'TYPE=ext4\nUUID=abc\n'), lsblk: noChildren }, 'xfs')).toEqual({
      kind: 'foreign',
      what: 'an ext4 filesystem',
    });
  });
  it('mkfs argv has label and lazy init and never a force flag', () => {
    expect(mkfsCommand('ext4', 'dalston-data', '/dev/nvme1n1')).toEqual([
      'mkfs.ext4',
      ['-q', '-L', 'dalston-data', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '/dev/nvme1n1'],
    ]);
    expect(mkfsCommand('xfs', 'd', '/dev/x')).toEqual(['mkfs.xfs', ['-q', '-L', 'd', '/dev/x']]);
    for (const fs of ['ext4', 'xfs']) {
      const [, args] = mkfsCommand(fs, 'l', '/dev/x');
      expect(args.some((a) => a === '-f' || a === '-F' || a === '--force')).toBe(false);
    }
  });
  it('decideDisk refuses with the device and what was found', () => {
    const d = decideDisk('/dev/loop3', { kind: 'foreign', what: 'an xfs filesystem' }, 'ext4');
    expect(d).toMatchObject({
      action: 'refuse',
      message: expect.stringMatching(/^\/dev\/loop3 holds an xfs filesystem/),
    });
  });
});

describe('device resolution (fake sysfs)', () => {
  let sys: string;
  let dev: string;
  beforeAll(async () => {
    sys = await mkdtemp(join(tmpdir(), 'dh-sysfs-'));
    dev = await mkdtemp(join(tmpdir(), 'dh-dev-'));
    const ns = async (name: string, serial: string) => {
      await mkdir(join(sys, 'block', name, 'device'), { recursive: true });
      await writeFile(join(sys, 'block', name, 'device', 'serial'), `${serial}  \n`);
    };
    await ns('nvme0n1', 'vol0aaaaaaaaaaaaaaaa');
    await ns('nvme1n1', 'vol0123456789abcdef0');
    await mkdir(join(sys, 'block', 'loop0'), { recursive: true });
  });
  afterAll(async () => {
    await rm(sys, { recursive: true, force: true });
    await rm(dev, { recursive: true, force: true });
  });

  it('maps a volume id to its NVMe namespace by serial', async () => {
    expect(nvmeSerialOf('vol-0123456789abcdef0')).toBe('vol0123456789abcdef0');
    expect(await nvmeBySerial(sys, 'vol0123456789abcdef0')).toBe('/dev/nvme1n1');
    expect(await nvmeBySerial(sys, 'vol0ffffffffffffffff')).toBeUndefined();
    expect(await nvmeBySerial(join(sys, 'missing'), 'x')).toBeUndefined();
  });

  it('prefers the serial, then by-id, then the API name (only if its NVMe serial matches)', async () => {
    const cfg = { volume: { id: 'vol-0123456789abcdef0' } };
    const byId = join(dev, 'disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0');
    let ctx = fakeContext(cfg, {
      sysfsRoot: sys,
      devRoot: dev,
      host: fakeHost({ blockDevices: new Set(['/dev/nvme1n1', byId]) }),
    });
    expect(await findVolumeOnce(ctx)).toEqual({ path: '/dev/nvme1n1', how: 'NVMe serial' });
    ctx = fakeContext(cfg, {
      sysfsRoot: join(sys, 'none'),
      devRoot: dev,
      host: fakeHost({ blockDevices: new Set([byId]) }),
    });
    expect(await findVolumeOnce(ctx)).toEqual({ path: byId, how: 'by-id link' });
    // /dev/sdf → nvme0n1, whose serial is another volume: skipped
    const sdf = join(dev, 'sdf');
    const wrong = fakeHost({ blockDevices: new Set([sdf]), realpath: async () => '/dev/nvme0n1' });
    ctx = fakeContext(cfg, { sysfsRoot: sys, devRoot: dev, host: wrong });
    expect(await findVolumeOnce(ctx)).toBeUndefined();
    // Xen-style /dev/xvdf (not NVMe) is accepted as the last resort
    const xvdf = join(dev, 'xvdf');
    ctx = fakeContext(cfg, {
      sysfsRoot: sys,
      devRoot: dev,
      host: fakeHost({ blockDevices: new Set([xvdf]), realpath: async (p) => p }),
    });
    expect(await findVolumeOnce(ctx)).toEqual({ path: xvdf, how: 'API device name' });
  });

  it('an explicit volume.device is the only candidate', async () => {
    const ctx = fakeContext(
      { volume: { id: 'vol-0123456789abcdef0', device: '/dev/loop5' } },
      { sysfsRoot: sys, devRoot: dev, host: fakeHost({ blockDevices: new Set(['/dev/nvme1n1']) }) },
    );
    expect(await findVolumeOnce(ctx)).toBeUndefined();
  });

  it('waits, settling between looks, until the device appears', async () => {
    const blocks = new Set<string>();
    const ctx = fakeContext(
      { volume: { device: '/dev/loop5', waitSeconds: 30 } },
      { host: fakeHost({ blockDevices: blocks }) },
    );
    let settles = 0;
    const found = await waitForVolume(ctx, async () => {
      settles++;
      if (settles === 4) blocks.add('/dev/loop5');
    });
    expect(found.path).toBe('/dev/loop5');
    expect(settles).toBe(4);
    expect(ctx.clock.t).toBe(4000);
  });

  it('gives up with exit 69 after waitSeconds, naming what it looked for', async () => {
    const ctx = fakeContext(
      { volume: { id: 'vol-0123456789abcdef0', waitSeconds: 3 } },
      { sysfsRoot: sys, devRoot: dev },
    );
    const err = await waitForVolume(ctx, async () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as HostError).exitCode).toBe(69);
    expect((err as Error).message).toContain(
      'EBS volume vol-0123456789abcdef0 did not appear as a block device within 3 s',
    );
    expect((err as Error).message).toContain('NVMe with serial vol0123456789abcdef0');
    expect(ctx.clock.t).toBe(3000);
  });
});

describe('disk step (fake shell)', () => {
  const blank = (device: string) => [
    when('findmnt -n -o SOURCE --target /', ok('/dev/nvme0n1p1\n')),
    when('lsblk -n -d -o PKNAME /dev/nvme0n1p1', ok('nvme0n1\n')),
    when('lsblk -n -d -o PKNAME', ok('\n')),
    when(`blkid -p -o export ${device}`, fail(2)),
    when(`lsblk -n -r -o NAME ${device}`, ok(`${device.slice(5)}\n`)),
    when(`wipefs --no-act`, ok('')),
    when(`blkid -p -s UUID -o value ${device}`, ok('new-uuid\n')),
  ];

  it('formats a blank device, settles udev when it runs, and reads the UUID anew', async () => {
    const ctx = fakeContext(
      { volume: { device: '/dev/nvme1n1' } },
      { host: fakeHost({ blockDevices: new Set(['/dev/nvme1n1']), udevRunning: () => true }) },
    );
    for (const b of blank('/dev/nvme1n1')) ctx.shell.on(b);
    const out = await diskStep.run(ctx);
    expect(out.result).toBe('done');
    expect(out.detail).toContain('UUID new-uuid');
    const lines = ctx.shell.lines();
    const mkfs = lines.indexOf(
      'mkfs.ext4 -q -L dalston-data -E lazy_itable_init=1,lazy_journal_init=1 /dev/nvme1n1',
    );
    expect(mkfs).toBeGreaterThan(
      lines.indexOf('wipefs --no-act --noheadings --output TYPE,OFFSET /dev/nvme1n1'),
    );
    expect(lines.slice(mkfs + 1)).toEqual([
      'udevadm settle --timeout=10',
      'blkid -p -s UUID -o value /dev/nvme1n1',
    ]);
    expect(ctx.state.volume).toMatchObject({ device: '/dev/nvme1n1', uuid: 'new-uuid', formatted: true });
  });

  it('does not call udevadm when udev is not running', async () => {
    const ctx = fakeContext(
      { volume: { device: '/dev/nvme1n1' } },
      { host: fakeHost({ blockDevices: new Set(['/dev/nvme1n1']) }) },
    );
    for (const b of blank('/dev/nvme1n1')) ctx.shell.on(b);
    await diskStep.run(ctx);
    expect(ctx.shell.lines().some((l) => l.startsWith('udevadm'))).toBe(false);
  });

  it('plans but does not format in a dry run', async () => {
    const ctx = fakeContext(
      { volume: { device: '/dev/nvme1n1' } },
      { dryRun: true, host: fakeHost({ blockDevices: new Set(['/dev/nvme1n1']) }) },
    );
    for (const b of blank('/dev/nvme1n1')) ctx.shell.on(b);
    const out = await diskStep.run(ctx);
    expect(out).toMatchObject({
      result: 'planned',
      changes: [expect.stringContaining('format blank /dev/nvme1n1')],
    });
    expect(ctx.shell.lines().some((l) => l.startsWith('mkfs'))).toBe(false);
  });

  it('uses our existing filesystem without formatting', async () => {
    const ctx = fakeContext(
      { volume: { device: '/dev/nvme1n1' } },
      { host: fakeHost({ blockDevices: new Set(['/dev/nvme1n1']) }) },
    );
    ctx.shell.on(when('blkid -p -o export /dev/nvme1n1', ok('UUID=keep\nTYPE=ext4\nLABEL=dalston-data\n')));
    ctx.shell.on(when('lsblk -n -r -o NAME', ok('nvme1n1\n')));
    const out = await diskStep.run(ctx);
    expect(out).toMatchObject({ result: 'unchanged', detail: expect.stringContaining('UUID keep') });
    expect(ctx.shell.lines().some((l) => l.startsWith('mkfs') || l.startsWith('wipefs'))).toBe(false);
  });

  it('refuses (65) a foreign device without running mkfs', async () => {
    const ctx = fakeContext(
      { volume: { device: '/dev/nvme1n1' } },
      { host: fakeHost({ blockDevices: new Set(['/dev/nvme1n1']) }) },
    );
    ctx.shell.on(when('blkid -p -o export /dev/nvme1n1', ok('UUID=x\nTYPE=xfs\n')));
    ctx.shell.on(when('lsblk -n -r -o NAME', ok('nvme1n1\n')));
    const err = await diskStep.run(ctx).catch((e: unknown) => e);
    expect((err as HostError).exitCode).toBe(65);
    expect((err as Error).message).toMatch(/^\/dev\/nvme1n1 holds an xfs filesystem/);
    expect(ctx.shell.lines().some((l) => l.startsWith('mkfs'))).toBe(false);
  });

  it('refuses the root disk and its partitions', async () => {
    for (const device of ['/dev/nvme0n1', '/dev/nvme0n1p2']) {
      const ctx = fakeContext(
        { volume: { device } },
        { host: fakeHost({ blockDevices: new Set([device]) }) },
      );
      ctx.shell.on(when('findmnt -n -o SOURCE --target /', ok('/dev/nvme0n1p1[/@]\n')));
      ctx.shell.on(when('lsblk -n -d -o PKNAME /dev/nvme0n1p1', ok('nvme0n1\n')));
      ctx.shell.on(when('lsblk -n -d -o PKNAME /dev/nvme0n1p2', ok('nvme0n1\n')));
      const err = await ensureVolume(ctx, true).catch((e: unknown) => e);
      expect((err as HostError).exitCode).toBe(65);
      expect((err as Error).message).toBe(
        `${device} is the root disk (it backs /): refusing to use it as the data volume`,
      );
    }
  });

  it('needs volume.id or volume.device (exit 78)', async () => {
    const err = await diskStep.run(fakeContext({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe('volume.id|volume.device');
    expect((err as ConfigError).exitCode).toBe(78);
  });
});
