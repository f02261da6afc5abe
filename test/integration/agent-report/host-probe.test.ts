import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHostProbe } from '../../../agent/report/host-probe.ts';
import { observeDataMount } from '../../../shared/mount/data-mount.ts';
import { ZxShell } from '../../../shared/shell.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';

const shell = new ZxShell();

async function run(cmd: string, args: string[]): Promise<void> {
  const r = await shell.run(cmd, args);
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

describe('host probe on this machine (real systeminformation, real mount)', () => {
  let dir: string;
  let loop: LoopDevice | undefined;
  let dataDir: string;
  let mounted = false;

  beforeAll(async () => {
    requireCommand('mkfs.ext4', 'apt-get install -y e2fsprogs');
    dir = await mkdtemp(path.join(requireEnv('DALSTON_TEST_TMP'), 'host-probe-'));
    dataDir = path.join(dir, 'data');
    await mkdir(dataDir);
    loop = await createLoopDevice({ sizeBytes: 64 * 1024 * 1024 });
    await run('mkfs.ext4', ['-q', '-F', loop.device]);
    await run('mount', [loop.device, dataDir]);
    mounted = true;
    // Fill a known share of the volume so the used percent is clearly above zero.
    await writeFile(path.join(dataDir, 'fill'), Buffer.alloc(16 * 1024 * 1024, 1));
  }, 120_000);

  afterAll(async () => {
    if (mounted) await run('umount', [dataDir]).catch(() => {});
    await loop?.detach();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports a mounted data volume with its device and used percent', async () => {
    const probe = createHostProbe({ dataDir, timeoutMs: 5_000 });
    await probe.start();
    const h = await probe.sample();
    expect(h.dataVolume.mountPoint).toBe(dataDir);
    expect(h.dataVolume.mounted).toBe(true);
    expect(h.dataVolume.device).toBe(loop!.device);
    expect(h.dataVolume.usedPercent).toBeGreaterThan(15);
    expect(h.dataVolume.usedPercent).toBeLessThan(60);
    expect(h.cpuLoadPercent).toBeGreaterThanOrEqual(0);
    expect(h.memory?.totalBytes).toBeGreaterThan(0);
    expect(h.memory!.usedBytes).toBeLessThanOrEqual(h.memory!.totalBytes);
    expect(Array.isArray(h.gpus)).toBe(true);
  });

  it('reports a plain directory (on the parent filesystem) as not mounted', async () => {
    const plain = path.join(dir, 'plain');
    await mkdir(plain);
    const h = await createHostProbe({ dataDir: plain, timeoutMs: 5_000 }).sample();
    expect(h.dataVolume).toEqual({ mountPoint: plain, mounted: false, device: null, usedPercent: null });
  });

  it('reports a bind mount of a root-disk directory as not mounted (the real mount table)', async (ctx) => {
    const src = path.join(dir, 'bind-src');
    const target = path.join(dir, 'bound');
    await mkdir(src);
    await mkdir(target);
    if ((await stat(src)).dev !== (await stat('/')).dev) ctx.skip();
    await run('mount', ['--bind', src, target]);
    try {
      const seen = await observeDataMount(target);
      expect(seen).toMatchObject({ mounted: false, resolved: target });
      expect(seen.device).not.toBeNull(); // something is mounted there, just not a data volume
      expect(seen.reason).toMatch(/is on the root filesystem/);
      const h = await createHostProbe({ dataDir: target, timeoutMs: 5_000 }).sample();
      expect(h.dataVolume).toEqual({ mountPoint: target, mounted: false, device: null, usedPercent: null });
    } finally {
      await run('umount', [target]);
    }
  });

  it('reports a missing directory as not mounted', async () => {
    const h = await createHostProbe({ dataDir: path.join(dir, 'absent'), timeoutMs: 5_000 }).sample();
    expect(h.dataVolume.mounted).toBe(false);
  });
});
