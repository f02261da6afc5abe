import { describe, expect, it } from 'vitest';
import { createHostProbe, type SystemInfo } from '../../../../agent/report/host-probe.ts';
import { fakeMounts } from '../../shared/fake-mounts.ts';

// Whether dataDir is the data volume is decided in shared/mount/data-mount.ts (tested in
// test/unit/shared/data-mount.test.ts); here: how the probe reports it, under timeouts.

const healthySi = (over: Partial<SystemInfo> = {}): SystemInfo => ({
  currentLoad: async () => ({ currentLoad: 23.5 }),
  mem: async () => ({ total: 1000, available: 250 }),
  fsSize: async () => [
    { fs: '/dev/nvme0n1p1', mount: '/', use: 40, size: 1, used: 1 },
    { fs: '/dev/nvme1n1', mount: '/data', use: 12.3, size: 1, used: 1 },
  ],
  graphics: async () => ({
    controllers: [
      { vendor: 'Amazon.com, Inc.', model: 'Device 1111', vram: 8 },
      { vendor: 'NVIDIA Corporation', model: 'Tesla T4', memoryTotal: 15360, utilizationGpu: 7 },
    ],
  }),
  ...over,
});

const hang = <T>(): Promise<T> => new Promise<T>(() => {});

const EBS = { mountPoint: '/data', source: '/dev/nvme1n1', majorMinor: '259:3' };
const mounts = fakeMounts([EBS]);

describe('createHostProbe', () => {
  it('reports load, memory without caches, the data volume and NVIDIA GPUs only', async () => {
    const probe = createHostProbe({
      dataDir: '/data',
      si: healthySi({
        fsSize: async () => [{ fs: '/dev/nvme1n1', mount: '/data', use: 12.3, size: 1, used: 1 }],
      }),
      mounts,
      hasNvidiaDriver: async () => true,
    });
    await probe.start();
    const h = await probe.sample();
    expect(h).toEqual({
      cpuLoadPercent: 23.5,
      memory: { totalBytes: 1000, usedBytes: 750 },
      dataVolume: { mountPoint: '/data', mounted: true, device: '/dev/nvme1n1', usedPercent: 12.3 },
      gpus: [{ model: 'Tesla T4', memoryTotalMiB: 15360, utilizationPercent: 7 }],
    });
  });

  it('never runs the GPU probe (lspci, nvidia-smi) on a host without an NVIDIA driver', async () => {
    let graphicsCalls = 0;
    const probe = createHostProbe({
      dataDir: '/data',
      si: healthySi({
        graphics: async () => {
          graphicsCalls++;
          return { controllers: [] };
        },
      }),
      mounts,
      hasNvidiaDriver: async () => false,
    });
    await probe.start();
    expect((await probe.sample()).gpus).toEqual([]);
    await probe.sample();
    expect(graphicsCalls).toBe(0);
  });

  it('gives nulls for probes that throw, never throwing itself', async () => {
    const boom = () => Promise.reject(new Error('boom'));
    const probe = createHostProbe({
      dataDir: '/data',
      si: { currentLoad: boom, mem: boom, fsSize: boom, graphics: boom },
      mounts,
      hasNvidiaDriver: async () => true,
    });
    await expect(probe.start()).resolves.toBeUndefined();
    expect(await probe.sample()).toEqual({
      cpuLoadPercent: null,
      memory: null,
      dataVolume: { mountPoint: '/data', mounted: true, device: '/dev/nvme1n1', usedPercent: null },
      gpus: [],
    });
  });

  it('gives nulls for probes that hang, within the timeout, and does not start them twice', async () => {
    let loadCalls = 0;
    const probe = createHostProbe({
      dataDir: '/data',
      timeoutMs: 50,
      si: healthySi({
        currentLoad: () => {
          loadCalls++;
          return hang();
        },
        mem: hang,
        graphics: hang,
      }),
      mounts,
      hasNvidiaDriver: async () => true,
    });
    const start = Date.now();
    const h = await probe.sample();
    expect(Date.now() - start).toBeLessThan(2_000);
    expect(h.cpuLoadPercent).toBeNull();
    expect(h.memory).toBeNull();
    expect(h.gpus).toEqual([]);
    await probe.sample();
    expect(loadCalls).toBe(1);
  });

  it('treats a synchronous throw like a failure', async () => {
    const probe = createHostProbe({
      dataDir: '/data',
      si: healthySi({
        mem: () => {
          throw new Error('sync');
        },
      }),
      mounts,
    });
    expect((await probe.sample()).memory).toBeNull();
  });

  it('reports anything but the data volume as not mounted, with no device and no usage', async () => {
    // A plain directory on the root disk (fsSize lists /data only for the mounted case).
    const probe = createHostProbe({
      dataDir: '/data',
      si: healthySi(),
      mounts: fakeMounts([], { dirs: ['/data'] }),
    });
    expect((await probe.sample()).dataVolume).toEqual({
      mountPoint: '/data',
      mounted: false,
      device: null,
      usedPercent: null,
    });
  });

  it('a mount read that hangs makes the volume unknown (not mounted) within the timeout, and is not restarted', async () => {
    let reads = 0;
    const probe = createHostProbe({
      dataDir: '/data',
      timeoutMs: 50,
      si: healthySi(),
      mounts: {
        ...mounts,
        mountInfo: () => {
          reads++;
          return hang();
        },
      },
    });
    const start = Date.now();
    expect((await probe.sample()).dataVolume).toMatchObject({ mounted: false, usedPercent: null });
    expect(Date.now() - start).toBeLessThan(2_000);
    await probe.sample();
    expect(reads).toBe(1);
  });
});
