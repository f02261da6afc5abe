import { stat } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ZxShell } from '../../../shared/shell.ts';
import { createLoopDevice, type LoopDevice, listLoops } from '../../harness/loop-device.ts';
import { requireCommand } from '../../harness/require.ts';

const shell = new ZxShell();

describe('harness: loop devices', () => {
  const created: LoopDevice[] = [];
  afterAll(async () => {
    for (const l of created) await l.detach();
  });

  it('creates a sparse file on a loop device that mkfs.ext4 formats and blkid -p sees', async () => {
    requireCommand('mkfs.ext4', 'apt-get install e2fsprogs');
    requireCommand('blkid', 'apt-get install util-linux');
    const loop = await createLoopDevice({ sizeBytes: 64 * 1024 * 1024 });
    created.push(loop);
    expect(loop.device).toMatch(/^\/dev\/loop\d+$/);
    const st = await stat(loop.file);
    expect(st.size).toBe(64 * 1024 * 1024);
    expect(st.blocks * 512).toBeLessThan(st.size); // sparse

    // A fresh device has no filesystem: blkid -p finds nothing (exit 2).
    expect((await shell.run('blkid', ['-p', loop.device])).exitCode).toBe(2);
    const mkfs = await shell.run('mkfs.ext4', ['-q', '-F', '-L', 'dhtest', loop.device]);
    expect(mkfs.exitCode, mkfs.stderr).toBe(0);
    const probe = await shell.run('blkid', ['-p', '-o', 'export', loop.device]);
    expect(probe.exitCode, probe.stderr).toBe(0);
    expect(probe.stdout).toContain('TYPE=ext4');
    expect(probe.stdout).toContain('LABEL=dhtest');
  });

  it('detach unmounts and frees the device, and is idempotent', async () => {
    const loop = await createLoopDevice({ sizeBytes: 32 * 1024 * 1024 });
    created.push(loop);
    const device = loop.device;
    expect((await shell.run('mkfs.ext4', ['-q', '-F', device])).exitCode).toBe(0);
    const { mkdtemp } = await import('node:fs/promises');
    const mnt = await mkdtemp(`${process.env.DALSTON_TEST_TMP}/mnt-`);
    expect((await shell.run('mount', [device, mnt])).exitCode).toBe(0);

    await loop.detach();
    expect((await shell.run('findmnt', ['--mountpoint', mnt])).exitCode).toBe(1);
    expect((await listLoops()).some((e) => e.backingFile === loop.file)).toBe(false);
    expect(() => loop.device).toThrow(/not attached/);
    await loop.detach();
  });

  it('can attach later (a disk that arrives late)', async () => {
    const loop = await createLoopDevice({ sizeBytes: 16 * 1024 * 1024, attach: false });
    created.push(loop);
    expect(loop.attached).toBe(false);
    expect(() => loop.device).toThrow(/attach\(\)/);
    const device = await loop.attach();
    expect(device).toMatch(/^\/dev\/loop\d+$/);
    expect((await listLoops()).find((e) => e.device === device)?.backingFile).toBe(loop.file);
  });
});
