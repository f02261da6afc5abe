import { describe, expect, it } from 'vitest';
import {
  createHostProbe,
  dataMountOf,
  parseMountInfo,
  type SystemInfo,
} from '../../../../agent/report/host-probe.ts';

const MOUNTINFO = [
  '22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,discard',
  '23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw',
  '40 22 259:3 / /data rw,noatime shared:20 - ext4 /dev/nvme1n1 rw',
  '41 22 259:4 / /mnt/with\\040space rw shared:21 - xfs /dev/nvme2n1 rw',
].join('\n');

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

describe('mountinfo', () => {
  it('parses mount points, sources and types, unescaping spaces', () => {
    const m = parseMountInfo(MOUNTINFO);
    expect(m).toContainEqual({ mountPoint: '/data', source: '/dev/nvme1n1', fsType: 'ext4' });
    expect(m).toContainEqual({ mountPoint: '/mnt/with space', source: '/dev/nvme2n1', fsType: 'xfs' });
  });

  it('tells a mount point of its own from a directory on the root disk', () => {
    const m = parseMountInfo(MOUNTINFO);
    expect(dataMountOf('/data', m)).toEqual({ mountPoint: '/data', mounted: true, device: '/dev/nvme1n1' });
    expect(dataMountOf('/srv/data', m)).toEqual({ mountPoint: '/srv/data', mounted: false, device: null });
    expect(dataMountOf('/data/sub', m).mounted).toBe(false);
    expect(dataMountOf('/', m).mounted).toBe(false);
    expect(dataMountOf('/database', m).mounted).toBe(false);
  });
});

/** A fake filesystem: existing directories and their device numbers. */
const fakeFs = (devs: Record<string, number>) => ({
  realpath: async (p: string) => {
    if (!(p in devs)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return p;
  },
  stat: async (p: string) => {
    if (!(p in devs)) throw new Error(`ENOENT: ${p}`);
    return { dev: devs[p]! };
  },
});
const fs = fakeFs({ '/': 1, '/data': 1 });

describe('createHostProbe', () => {
  const mountinfoFor = (dir: string) => async () =>
    `22 1 259:1 / / rw - ext4 /dev/root rw\n40 22 259:3 / ${dir} rw - ext4 /dev/nvme1n1 rw`;

  it('reports load, memory without caches, the data volume and NVIDIA GPUs only', async () => {
    const probe = createHostProbe({
      dataDir: '/data',
      si: healthySi({
        fsSize: async () => [{ fs: '/dev/nvme1n1', mount: '/data', use: 12.3, size: 1, used: 1 }],
      }),
      readMountInfo: mountinfoFor('/data'),
      fs,
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
      readMountInfo: mountinfoFor('/data'),
      fs,
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
      readMountInfo: mountinfoFor('/data'),
      fs,
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
      readMountInfo: mountinfoFor('/data'),
      fs,
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
      readMountInfo: mountinfoFor('/data'),
      fs,
    });
    expect((await probe.sample()).memory).toBeNull();
  });

  it('reports a directory on the root disk as not mounted, with no usage', async () => {
    const probe = createHostProbe({
      dataDir: '/data',
      si: healthySi(),
      readMountInfo: async () => '22 1 259:1 / / rw - ext4 /dev/root rw',
      fs,
    });
    expect((await probe.sample()).dataVolume).toEqual({
      mountPoint: '/data',
      mounted: false,
      device: null,
      usedPercent: null,
    });
  });

  it('reports a missing data directory as not mounted', async () => {
    const probe = createHostProbe({
      dataDir: '/nonexistent/dalston-data',
      si: healthySi(),
      readMountInfo: mountinfoFor('/nonexistent/dalston-data'),
      fs,
    });
    expect((await probe.sample()).dataVolume).toEqual({
      mountPoint: '/nonexistent/dalston-data',
      mounted: false,
      device: null,
      usedPercent: null,
    });
  });

  it('without mountinfo, compares the device of the directory with its parent', async () => {
    const noMountinfo = () => Promise.reject(new Error('no /proc'));
    const own = createHostProbe({
      dataDir: '/data',
      si: healthySi(),
      readMountInfo: noMountinfo,
      fs: fakeFs({ '/': 1, '/data': 2 }),
    });
    expect((await own.sample()).dataVolume).toMatchObject({ mounted: true, usedPercent: 12.3 });
    const same = createHostProbe({
      dataDir: '/data',
      si: healthySi(),
      readMountInfo: noMountinfo,
      fs: fakeFs({ '/': 1, '/data': 1 }),
    });
    expect((await same.sample()).dataVolume).toMatchObject({ mounted: false, usedPercent: null });
  });
});
