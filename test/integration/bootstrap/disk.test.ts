import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FSTAB_MARKER } from '../../../bootstrap/fstab.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';
import { requireCommand } from '../../harness/require.ts';
import {
  DEFAULT_FSTAB,
  fileHash,
  makeRoot,
  mountedAt,
  runBootstrap,
  sh,
  sha256,
  unmountAll,
} from './bootstrap-process.ts';

const MiB = 1024 * 1024;
const DISK_STEPS = 'disk,mount,fstab,dirs';

// Everything a test creates is released here, even when it fails.
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

async function loop(sizeBytes: number, attach = true): Promise<LoopDevice> {
  const l = await createLoopDevice({ sizeBytes, attach });
  cleanups.push(async () => {
    await l.detach();
    await rm(l.file, { force: true });
  });
  return l;
}

async function scratch(device: string, extra: Record<string, unknown> = {}) {
  const r = await makeRoot((dataDir) => ({ dataDir, volume: { device, waitSeconds: 10, ...extra } }));
  cleanups.push(async () => {
    await unmountAll(r.dir);
    await rm(r.dir, { recursive: true, force: true });
  });
  return r;
}

beforeAll(() => {
  for (const [cmd, pkg] of [
    ['blkid', 'util-linux'],
    ['wipefs', 'util-linux'],
    ['lsblk', 'util-linux'],
    ['findmnt', 'util-linux'],
    ['mkfs.ext4', 'e2fsprogs'],
    ['mkfs.xfs', 'xfsprogs'],
    ['sfdisk', 'fdisk'],
  ]) {
    requireCommand(cmd!, `apt-get install -y ${pkg}`);
  }
});

describe('bootstrap on real loop devices', () => {
  it('formats a blank device, mounts it, writes a valid fstab line; a re-run changes nothing', async () => {
    const l = await loop(64 * MiB);
    const s = await scratch(l.device);

    const first = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.steps.disk).toMatchObject({
      result: 'done',
      detail: expect.stringContaining(`formatted ${l.device}`),
    });
    expect(first.steps.mount?.result).toBe('done');
    expect(first.steps.fstab?.result).toBe('done');
    expect(first.steps.dirs?.result).toBe('done');

    const uuid = (await sh('blkid', ['-p', '-s', 'UUID', '-o', 'value', l.device])).trim();
    expect((await sh('blkid', ['-p', '-s', 'LABEL', '-o', 'value', l.device])).trim()).toBe('dalston-data');
    expect(await mountedAt(s.dataDir)).toBe(l.device);
    const fstab = await readFile(s.fstab, 'utf8');
    expect(fstab).toBe(
      `${DEFAULT_FSTAB}${FSTAB_MARKER}\nUUID=${uuid} ${s.dataDir} ext4 defaults,nofail,x-systemd.device-timeout=90s 0 2\n`,
    );
    expect(await readFile(`${s.fstab}.dalston-host.bak`, 'utf8')).toBe(DEFAULT_FSTAB);
    expect(await sh('findmnt', ['--verify', '--tab-file', s.fstab])).toContain('Success');
    const pg = await stat(join(s.dataDir, 'postgres'));
    expect([pg.uid, pg.gid, pg.mode & 0o777]).toEqual([70, 70, 0o700]);
    const report = JSON.parse(await readFile(join(s.root, 'var/lib/dalston/bootstrap.json'), 'utf8'));
    expect(report.ok).toBe(true);
    expect(report.steps.map((x: { name: string }) => x.name)).toEqual([
      'config',
      'disk',
      'mount',
      'fstab',
      'dirs',
    ]);

    // Second run: no mkfs, fstab byte-identical and not rewritten.
    const before = await stat(s.fstab);
    const second = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS]);
    expect(second.code).toBe(0);
    for (const step of ['disk', 'mount', 'fstab', 'dirs'])
      expect(second.steps[step]?.result).toBe('unchanged');
    expect(await readFile(s.fstab, 'utf8')).toBe(fstab);
    expect((await stat(s.fstab)).mtimeMs).toBe(before.mtimeMs);
    expect((await sh('blkid', ['-p', '-s', 'UUID', '-o', 'value', l.device])).trim()).toBe(uuid);

    // The fstab line works for a boot-time `mount -a`.
    await sh('umount', [s.dataDir]);
    expect(await mountedAt(s.dataDir)).toBeUndefined();
    await sh('mount', ['-a', '--fstab', s.fstab]);
    expect(await mountedAt(s.dataDir)).toBe(l.device);
  });

  it('uses an existing ext4 volume without formatting it; its files survive', async () => {
    const l = await loop(64 * MiB);
    await sh('mkfs.ext4', ['-q', '-L', 'olddata', l.device]);
    const uuid = (await sh('blkid', ['-p', '-s', 'UUID', '-o', 'value', l.device])).trim();
    const s = await scratch(l.device);
    await mkdir(s.dataDir);
    await sh('mount', [l.device, s.dataDir]);
    await writeFile(join(s.dataDir, 'keep.txt'), 'precious');
    await mkdir(join(s.dataDir, 'postgres'));
    await writeFile(join(s.dataDir, 'postgres', 'PG_VERSION'), '18');
    await sh('umount', [s.dataDir]);

    const run = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS]);
    expect(run.code).toBe(0);
    expect(run.steps.disk).toMatchObject({ result: 'unchanged', detail: expect.stringContaining(uuid) });
    expect((await sh('blkid', ['-p', '-s', 'UUID', '-o', 'value', l.device])).trim()).toBe(uuid);
    expect(await readFile(join(s.dataDir, 'keep.txt'), 'utf8')).toBe('precious');
    // a populated postgres dir keeps its owner (root here): never re-chowned
    const pg = await stat(join(s.dataDir, 'postgres'));
    expect(pg.uid).toBe(0);
    expect(run.steps.dirs?.detail).toContain('postgres (populated');
  });

  it('refuses an xfs filesystem (exit 65) and leaves every byte alone', async () => {
    const l = await loop(300 * MiB);
    await sh('mkfs.xfs', ['-q', '-L', 'other', l.device]);
    const s = await scratch(l.device);
    const before = await sha256(l.device);
    const fstabBefore = await fileHash(s.fstab);

    const run = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS]);
    expect(run.code).toBe(65);
    expect(run.stderr).toContain(`${l.device} holds an xfs filesystem labelled "other"`);
    expect(run.steps.disk?.result).toBe('failed');
    expect(await sha256(l.device)).toBe(before);
    expect(await fileHash(s.fstab)).toBe(fstabBefore);
    expect(existsSync(s.dataDir)).toBe(false);
  });

  it('refuses a partition table without a filesystem (exit 65), bytes unchanged', async () => {
    const l = await loop(64 * MiB);
    const table = 'label: dos\n,16M,L\n,,L\n';
    await sh('sh', [
      '-c',
      `printf '${table.replace(/\n/g, '\\n')}' | sfdisk -q --no-reread ${l.device} || true`,
    ]);
    expect(await sh('blkid', ['-p', '-o', 'export', l.device])).toContain('PTTYPE=dos');
    const s = await scratch(l.device);
    const before = await sha256(l.device);

    const run = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS]);
    expect(run.code).toBe(65);
    expect(run.stderr).toContain(`${l.device} holds a dos partition table`);
    expect(await sha256(l.device)).toBe(before);
    expect(await mountedAt(s.dataDir)).toBeUndefined();
  });

  it('refuses when another device is mounted at dataDir (exit 65)', async () => {
    const ours = await loop(64 * MiB);
    const other = await loop(64 * MiB);
    await sh('mkfs.ext4', ['-q', ours.device]);
    await sh('mkfs.ext4', ['-q', other.device]);
    const s = await scratch(ours.device);
    await mkdir(s.dataDir);
    await sh('mount', [other.device, s.dataDir]);

    const run = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS]);
    expect(run.code).toBe(65);
    expect(run.stderr).toContain(`${s.dataDir} already has ${other.device}`);
    expect(run.stderr).toContain(`not the data volume ${ours.device}`);
    expect(await mountedAt(s.dataDir)).toBe(other.device);
    expect(await readFile(s.fstab, 'utf8')).toBe(DEFAULT_FSTAB);
  });

  it('waits for a device that appears 3 s after start', async () => {
    const l = await loop(64 * MiB, false);
    // The configured path is a link created when the loop device attaches, as udev's by-id link would be.
    const s0 = await makeRoot(() => ({}));
    cleanups.push(async () => {
      await unmountAll(s0.dir);
      await rm(s0.dir, { recursive: true, force: true });
    });
    const link = join(s0.dir, 'by-id-data-volume');
    await writeFile(
      join(s0.root, 'etc/dalston/host.json'),
      JSON.stringify({ dataDir: s0.dataDir, volume: { device: link, waitSeconds: 30 } }),
    );
    const running = runBootstrap(['--root', s0.root, '--steps', 'disk,mount']);
    await new Promise((r) => setTimeout(r, 3000));
    await symlink(await l.attach(), link);
    const run = await running;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.steps.disk?.result).toBe('done');
    expect(await mountedAt(s0.dataDir)).toBe(l.device);
  });

  it('gives up with exit 69 when the device never appears', async () => {
    const s = await makeRoot((dataDir) => ({
      dataDir,
      volume: { device: '/dev/disk/by-id/dalston-test-never', waitSeconds: 3 },
    }));
    cleanups.push(() => rm(s.dir, { recursive: true, force: true }));
    const run = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS]);
    expect(run.code).toBe(69);
    expect(run.stderr).toContain(
      'data volume not found: volume.device /dev/disk/by-id/dalston-test-never did not appear as a block device within 3 s',
    );
    // It waited the whole waitSeconds, and gave up then rather than polling on (bounds with
    // generous slack for a busy machine: correctness, not a speed target).
    expect(run.steps.disk?.durationMs).toBeGreaterThanOrEqual(3000);
    expect(run.steps.disk?.durationMs).toBeLessThan(3000 + 5000);
    const report = JSON.parse(await readFile(join(s.root, 'var/lib/dalston/bootstrap.json'), 'utf8'));
    expect(report).toMatchObject({ ok: false, exitCode: 69 });
  });

  it('--dry-run prints the plan and changes nothing', async () => {
    const l = await loop(64 * MiB);
    const s = await scratch(l.device);
    const deviceBefore = await sha256(l.device);
    const fstabBefore = await fileHash(s.fstab);

    const run = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS, '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.steps.disk).toMatchObject({
      result: 'planned',
      detail: expect.stringContaining(`format blank ${l.device}`),
    });
    expect(run.steps.mount?.result).toBe('planned');
    expect(run.steps.fstab?.detail).toContain('defaults,nofail,x-systemd.device-timeout=90s 0 2');
    expect(run.steps.dirs?.result).toBe('planned');
    expect(await sha256(l.device)).toBe(deviceBefore);
    expect(await fileHash(s.fstab)).toBe(fstabBefore);
    expect(await mountedAt(s.dataDir)).toBeUndefined();
    expect(existsSync(s.dataDir)).toBe(false);
    expect(existsSync(join(s.root, 'var/lib/dalston/bootstrap.json'))).toBe(false);
    const noBlkid = await sh('blkid', ['-p', '-o', 'export', l.device]).catch(() => 'none');
    expect(noBlkid).toBe('none');
  });

  it('bad config → exit 78 naming the key, before touching anything', async () => {
    const s = await makeRoot(() => ({ volume: { device: '/dev/null', fsType: 'btrfs' as 'ext4' } }));
    cleanups.push(() => rm(s.dir, { recursive: true, force: true }));
    const run = await runBootstrap(['--root', s.root, '--steps', DISK_STEPS]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('volume.fsType');
    await writeFile(join(s.root, 'etc/dalston/host.json'), '{}');
    const missing = await runBootstrap(['--root', s.root, '--steps', 'disk']);
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain('volume.id|volume.device is required');
  });
});
