/**
 * Host facts for the status snapshot: CPU load, memory, the data volume and
 * NVIDIA GPUs, through systeminformation. Each call has its own timeout; a
 * failing or slow probe yields null for its part and never throws, and a probe
 * still running from the last sample is not started again (no pile-up).
 */
import { access, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import si from 'systeminformation';
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

export interface MountEntry {
  mountPoint: string;
  source: string;
  fsType: string;
}

/** Where `dataDir` lives: the mount that holds it and whether it is its own mount point. */
export interface DataMount {
  mountPoint: string;
  mounted: boolean;
  device: string | null;
}

/** Reads /proc/self/mountinfo (injected in tests). */
export type MountInfoReader = () => Promise<string>;

const unescapeOctal = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Parses /proc/self/mountinfo: `id parent maj:min root mountpoint opts [optional…] - fstype source superopts`. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (f.length < 10 || dash < 6) continue;
    out.push({ mountPoint: unescapeOctal(f[4]!), fsType: f[dash + 1]!, source: unescapeOctal(f[dash + 2]!) });
  }
  return out;
}

/**
 * Is `dir` (already resolved) a mount point of its own, other than `/`? The last
 * matching entry wins (later mounts stack over earlier ones).
 */
export function dataMountOf(dir: string, mounts: MountEntry[]): DataMount {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = m.mountPoint === '/' || dir === m.mountPoint || dir.startsWith(`${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  const own = best !== undefined && best.mountPoint === dir && dir !== '/';
  return { mountPoint: dir, mounted: own, device: own ? best!.source : null };
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
  readMountInfo?: MountInfoReader;
  /** Filesystem calls (injected in tests). */
  fs?: { realpath(p: string): Promise<string>; stat(p: string): Promise<{ dev: number }> };
  /**
   * Whether an NVIDIA driver is loaded. si.graphics() spawns lspci/nvidia-smi
   * each call, which shows as idle CPU on hosts without a GPU: it runs only
   * where a driver answers. Checked once, at start.
   */
  hasNvidiaDriver?: () => Promise<boolean>;
}): HostProbe {
  const fsx = opts.fs ?? { realpath, stat };
  const timeoutMs = opts.timeoutMs ?? 2000;
  const sys: SystemInfo = opts.si ?? (si as unknown as SystemInfo);
  const readMountInfo = opts.readMountInfo ?? (() => readFile('/proc/self/mountinfo', 'utf8'));
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

  const dataMount = async (): Promise<DataMount & { resolved: string }> => {
    const fallback = { mountPoint: opts.dataDir, resolved: opts.dataDir, mounted: false, device: null };
    const resolved = await withTimeout(fsx.realpath(opts.dataDir), timeoutMs);
    if (resolved === null) return fallback; // missing dataDir: certainly not mounted
    const text = await probe('mountinfo', readMountInfo);
    if (text !== null) {
      return { ...dataMountOf(resolved, parseMountInfo(text)), mountPoint: opts.dataDir, resolved };
    }
    // No mountinfo: a mount point has another device than its parent.
    const [a, b] = await Promise.all([
      withTimeout(fsx.stat(resolved), timeoutMs),
      withTimeout(fsx.stat(path.dirname(resolved)), timeoutMs),
    ]);
    if (!a || !b) return fallback;
    return { mountPoint: opts.dataDir, resolved, mounted: resolved !== '/' && a.dev !== b.dev, device: null };
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
        dataMount(),
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
          device: mount.device,
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
