/**
 * Host facts for the status snapshot: CPU load, memory, the data volume and
 * NVIDIA GPUs, through systeminformation. Each call has its own timeout; a
 * failing or slow probe yields null for its part and never throws, and a probe
 * still running from the last sample is not started again (no pile-up).
 */
import { access } from 'node:fs/promises';
import si from 'systeminformation';
import { type MountProbe, observeDataMount, systemMountProbe } from '../../shared/mount/data-mount.ts';
import type { HostStatus } from '../../shared/status/snapshot.ts';

/** The systeminformation calls the probe uses (a fake is injected in tests). */
export interface SystemInfo {
  currentLoad(): Promise<{ currentLoad: number }>;
  mem(): Promise<{ total: number; available: number }>;
  fsSize(): Promise<Array<{ fs: string; mount: string; use: number; size: number; used: number }>>;
  graphics(): Promise<{
    controllers: Array<{
      vendor: string;
      model: string;
      memoryTotal?: number;
      vram?: number | null;
      utilizationGpu?: number;
    }>;
  }>;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), ms);
      }),
    ]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

export interface HostProbe {
  /** Primes currentLoad (its first value is measured since boot, not recent). */
  start(): Promise<void>;
  sample(): Promise<HostStatus>;
}

export function createHostProbe(opts: {
  dataDir: string;
  timeoutMs?: number;
  si?: SystemInfo;
  /** The reads behind the data-volume check (injected in tests), decided as the preflight decides. */
  mounts?: MountProbe;
  /**
   * Whether an NVIDIA driver is loaded. si.graphics() spawns lspci/nvidia-smi
   * each call, which shows as idle CPU on hosts without a GPU: it runs only
   * where a driver answers. Checked once, at start.
   */
  hasNvidiaDriver?: () => Promise<boolean>;
}): HostProbe {
  const mounts = opts.mounts ?? systemMountProbe;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const sys: SystemInfo = opts.si ?? (si as unknown as SystemInfo);
  const inflight = new Map<string, Promise<unknown>>();
  const hasNvidiaDriver =
    opts.hasNvidiaDriver ??
    (() =>
      access('/proc/driver/nvidia/version').then(
        () => true,
        () => false,
      ));
  let gpuPresent: Promise<boolean> | null = null;

  /** Runs `fn` with a timeout, unless its previous call is still running; null on error/timeout. */
  const probe = <T>(name: string, fn: () => Promise<T>): Promise<T | null> => {
    if (inflight.has(name)) return Promise.resolve(null);
    let p: Promise<T>;
    try {
      p = fn();
    } catch {
      return Promise.resolve(null);
    }
    const tracked = p.then(
      () => undefined,
      () => undefined,
    );
    inflight.set(name, tracked);
    void tracked.finally(() => inflight.delete(name));
    return withTimeout(p, timeoutMs);
  };

  // The same observation as the preflight's, each read under its own timeout and
  // never started twice; a read that fails, hangs or is still running is unknown,
  // and unknown never counts as mounted.
  const timedMounts: MountProbe = {
    realpath: (p) => probe('realpath', () => mounts.realpath(p)),
    deviceOf: (p) => probe(`stat ${p}`, () => mounts.deviceOf(p)),
    mountInfo: () => probe('mountinfo', () => mounts.mountInfo()),
  };

  return {
    async start() {
      gpuPresent = hasNvidiaDriver().catch(() => false);
      await probe('currentLoad', () => sys.currentLoad());
    },
    async sample() {
      gpuPresent ??= hasNvidiaDriver().catch(() => false);
      const [load, mem, fs, gfx, mount] = await Promise.all([
        probe('currentLoad', () => sys.currentLoad()),
        probe('mem', () => sys.mem()),
        probe('fsSize', () => sys.fsSize()),
        gpuPresent.then((present) => (present ? probe('graphics', () => sys.graphics()) : null)),
        observeDataMount(opts.dataDir, timedMounts),
      ]);
      const fsEntry = mount.mounted && fs ? fs.find((e) => e.mount === mount.resolved) : undefined;
      const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
      return {
        cpuLoadPercent: load ? num(load.currentLoad) : null,
        // "Used" without reclaimable caches: total minus what is available.
        memory:
          mem && num(mem.total) !== null && num(mem.available) !== null
            ? { totalBytes: mem.total, usedBytes: mem.total - mem.available }
            : null,
        dataVolume: {
          mountPoint: mount.mountPoint,
          mounted: mount.mounted,
          // The snapshot names a device only for the data volume itself.
          device: mount.mounted ? mount.device : null,
          usedPercent: fsEntry ? num(fsEntry.use) : null,
        },
        gpus: (gfx?.controllers ?? [])
          .filter((c) => /nvidia/i.test(c.vendor ?? '') || /nvidia/i.test(c.model ?? ''))
          .map((c) => ({
            model: c.model,
            memoryTotalMiB: num(c.memoryTotal) ?? num(c.vram),
            utilizationPercent: num(c.utilizationGpu),
          })),
      };
    },
  };
}
