import { describe, expect, it } from 'vitest';
import { formatDevNumber, otherCopies } from '../../../bootstrap/disk/identity.ts';
import { ensureVolume } from '../../../bootstrap/steps/disk.ts';
import { fstabSource } from '../../../bootstrap/steps/fstab.ts';
import type { HostError } from '../../../shared/errors.ts';
import { fakeMounts } from '../shared/fake-mounts.ts';
import { fail, fakeContext, fakeHost, ok, when } from './fakes.ts';

describe('device numbers', () => {
  it("decodes Linux's dev_t like glibc's major()/minor()", () => {
    expect(formatDevNumber((7n << 8n) | 3n)).toBe('7:3');
    expect(formatDevNumber((259n << 8n) | 1n)).toBe('259:1');
    // minor ≥ 256 and major ≥ 4096 use the high bits
    const dev =
      ((5000n & 0xfffn) << 8n) | ((5000n & ~0xfffn) << 32n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n);
    expect(formatDevNumber(dev)).toBe('5000:300');
  });
  it('the data volume under another name is no copy; each other device counts once', () => {
    const volume = { majorMinor: '7:3' };
    expect(otherCopies(volume, [{ path: '/dev/loop3', majorMinor: '7:3' }])).toEqual([]);
    expect(
      otherCopies(volume, [
        { path: '/dev/loop3', majorMinor: '7:3' },
        { path: '/dev/loop4', majorMinor: '7:4' },
        { path: '/dev/mapper/copy', majorMinor: '7:4' },
        { path: '/dev/gone', majorMinor: undefined },
      ]),
    ).toEqual(['/dev/loop4']);
  });
});

describe('data volume identity in the disk step (fake shell)', () => {
  const dev = '/dev/nvme1n1';
  const probes = (blkidExport: ReturnType<typeof ok>) => [
    when('findmnt -n -o SOURCE --target /', ok('/dev/nvme0n1p1\n')),
    when('lsblk -n -d -o PKNAME /dev/nvme0n1p1', ok('nvme0n1\n')),
    when('lsblk -n -d -o PKNAME', ok('\n')),
    when(`blkid -p -o export ${dev}`, blkidExport),
    when(`lsblk -n -r -o NAME ${dev}`, ok('nvme1n1\n')),
    when('wipefs --no-act', ok('')),
  ];
  const ours = ok('UUID=u1\nTYPE=ext4\nLABEL=dalston-data\n');

  it('refuses (65) when a second device carries the UUID, naming both, and mounts nothing', async () => {
    const ctx = fakeContext(
      { volume: { device: dev } },
      { host: fakeHost({ blockDevices: new Set([dev, '/dev/nvme2n1']) }) },
    );
    for (const p of probes(ours)) ctx.shell.on(p);
    ctx.shell.on(when('blkid -c /dev/null -t UUID=u1 -o device', ok(`${dev}\n/dev/nvme2n1\n`)));
    const err = (await ensureVolume(ctx, true).catch((e: unknown) => e)) as HostError;
    expect(err.exitCode).toBe(65);
    expect(err.message).toContain(
      'filesystem UUID u1 is on 2 devices: /dev/nvme1n1 (259:10, the data volume) and /dev/nvme2n1',
    );
    expect(ctx.shell.lines().some((l) => /^(mount|mkfs)/.test(l))).toBe(false);
  });

  it('accepts the UUID when blkid lists only the volume itself (by another name too)', async () => {
    const ctx = fakeContext(
      { volume: { device: dev } },
      {
        host: fakeHost({
          blockDevices: new Set([dev, '/dev/disk/by-id/x']),
          deviceNumbers: { '/dev/disk/by-id/x': '259:10' },
        }),
      },
    );
    for (const p of probes(ours)) ctx.shell.on(p);
    ctx.shell.on(when('blkid -c /dev/null -t UUID=u1', ok(`${dev}\n/dev/disk/by-id/x\n`)));
    expect(await ensureVolume(ctx, true)).toMatchObject({ uuid: 'u1', majorMinor: '259:10' });
  });

  it('checks dataDir before formatting: another device mounted there → 65 and no mkfs', async () => {
    const ctx = fakeContext(
      { dataDir: '/data', volume: { device: dev } },
      {
        host: fakeHost({ blockDevices: new Set([dev]) }),
        mounts: fakeMounts([{ mountPoint: '/data', source: '/dev/loop7', majorMinor: '7:7' }]),
      },
    );
    for (const p of probes(fail(2))) ctx.shell.on(p);
    const err = (await ensureVolume(ctx, true).catch((e: unknown) => e)) as HostError;
    expect(err.exitCode).toBe(65);
    expect(err.message).toContain('/data already has /dev/loop7');
    expect(err.message).toContain('(/dev/nvme1n1 is blank and was not formatted)');
    expect(ctx.shell.lines().some((l) => l.startsWith('mkfs'))).toBe(false);
  });

  it('checks dataDir before formatting: content on the root disk under it → 65 and no mkfs', async () => {
    const ctx = fakeContext(
      { dataDir: '/data', volume: { device: dev } },
      {
        host: fakeHost({ blockDevices: new Set([dev]), dirs: { '/data': ['postgres'] } }),
        mounts: fakeMounts([], { dirs: ['/data'] }),
      },
    );
    for (const p of probes(fail(2))) ctx.shell.on(p);
    const err = (await ensureVolume(ctx, true).catch((e: unknown) => e)) as HostError;
    expect(err.exitCode).toBe(65);
    expect(err.message).toContain(
      '/data is not mounted but already holds 1 entry on the root disk (postgres)',
    );
    expect(ctx.shell.lines().some((l) => l.startsWith('mkfs'))).toBe(false);
  });
});

describe('fstab source', () => {
  it('AWS: the by-id link of the volume id when it leads to the device, else UUID=', () => {
    const aws = { id: 'vol-0123456789abcdef0' };
    expect(fstabSource(aws, { uuid: 'u1' }, true)).toBe(
      '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0',
    );
    // Xen instance types have no by-id link for EBS: the UUID is all there is.
    expect(fstabSource(aws, { uuid: 'u1' }, false)).toBe('UUID=u1');
  });
  it('an explicit volume.device keeps UUID= (duplicates are refused at every boot instead)', () => {
    expect(fstabSource({ device: '/dev/loop3', id: 'vol-0123456789abcdef0' }, { uuid: 'u1' }, true)).toBe(
      'UUID=u1',
    );
    expect(fstabSource({ device: '/dev/loop3' }, { uuid: undefined }, false)).toBe(
      'UUID=<uuid of the new filesystem>',
    );
  });
});
