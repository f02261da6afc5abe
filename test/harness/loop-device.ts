import { randomBytes } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { type Shell, ZxShell } from '../../shared/shell.ts';
import { tail } from './apt.ts';
import { ENV } from './paths.ts';
import { requireEnv } from './require.ts';

const GiB = 1024 ** 3;

export interface LoopEntry {
  device: string;
  backingFile: string;
}

/**
 * Pure: parses `losetup --list --noheadings --raw -O NAME,BACK-FILE`. Raw mode
 * escapes spaces as \x20; a deleted backing file carries " (deleted)".
 */
export function parseLosetupList(output: string): LoopEntry[] {
  const entries: LoopEntry[] = [];
  for (const line of output.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m?.[1] || !m[2]) continue;
    const backingFile = m[2]
      .replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)))
      .replace(/ \(deleted\)$/, '');
    entries.push({ device: m[1], backingFile });
  }
  return entries;
}

/** Pure: the loop devices whose backing file lies inside `dir`. */
export function loopsUnder(entries: readonly LoopEntry[], dir: string): LoopEntry[] {
  const root = dir.endsWith(path.sep) ? dir : dir + path.sep;
  return entries.filter((e) => e.backingFile.startsWith(root));
}

export async function listLoops(shell: Shell = new ZxShell()): Promise<LoopEntry[]> {
  const r = await shell.run('losetup', ['--list', '--noheadings', '--raw', '-O', 'NAME,BACK-FILE']);
  if (r.exitCode !== 0) throw new Error(`losetup --list failed: ${tail(r.stderr)}`);
  return parseLosetupList(r.stdout);
}

async function freeLoopCount(shell: Shell): Promise<string> {
  try {
    const nodes = (await readdir('/dev')).filter((n) => /^loop\d+$/.test(n)).length;
    const used = (await listLoops(shell)).length;
    return `${nodes - used} of ${nodes} loop devices are free`;
  } catch {
    return 'could not count free loop devices';
  }
}

/** Attaches `file` to the first free loop device; returns e.g. /dev/loop3. */
export async function attachLoop(file: string, shell: Shell = new ZxShell()): Promise<string> {
  const r = await shell.run('losetup', ['--find', '--show', file]);
  const device = r.stdout.trim();
  if (r.exitCode !== 0 || !device.startsWith('/dev/')) {
    throw new Error(
      `losetup --find --show ${file} failed (${await freeLoopCount(shell)}; other tests may hold them, ` +
        `see 'losetup -l'): ${tail(r.stderr || r.stdout)}`,
    );
  }
  return device;
}

/**
 * Unmounts everything mounted from `device` (innermost first), then detaches it.
 * Idempotent. With `expectedFile`, does nothing when the device now backs a
 * different file (it was detached and reused by another test).
 */
export async function detachLoop(
  device: string,
  shell: Shell = new ZxShell(),
  expectedFile?: string,
): Promise<void> {
  const current = (await listLoops(shell)).find((e) => e.device === device);
  if (!current || (expectedFile !== undefined && current.backingFile !== expectedFile)) return;
  const mounts = await shell.run('findmnt', ['--raw', '--noheadings', '--source', device, '-o', 'TARGET']);
  const targets = mounts.exitCode === 0 ? mounts.stdout.split('\n').filter(Boolean) : [];
  for (const t of targets.sort((a, b) => b.length - a.length)) {
    const target = t.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) =>
      String.fromCharCode(Number.parseInt(h, 16)),
    );
    const u = await shell.run('umount', [target]);
    if (u.exitCode !== 0) {
      // A busy mount must not keep the device forever: detach lazily.
      const lazy = await shell.run('umount', ['-l', target]);
      if (lazy.exitCode !== 0)
        throw new Error(`cannot unmount ${target} (from ${device}): ${tail(u.stderr)}`);
    }
  }
  const d = await shell.run('losetup', ['--detach', device]);
  if (d.exitCode !== 0) throw new Error(`losetup --detach ${device} failed: ${tail(d.stderr)}`);
}

export interface LoopDevice {
  /** Sparse backing file under DALSTON_TEST_TMP. */
  readonly file: string;
  /** The /dev/loopN path; throws when not attached (see attach()). */
  readonly device: string;
  readonly attached: boolean;
  /** Attaches the file (e.g. later, to make a disk "arrive late"); returns the device path. */
  attach(): Promise<string>;
  /** Unmounts and detaches; safe to call twice or when never attached. */
  detach(): Promise<void>;
}

/**
 * A fresh sparse file (default 1 GiB) under DALSTON_TEST_TMP, attached to a
 * loop device unless `attach: false`. There are only a few loop devices on the
 * machine: always detach() in afterAll/finally.
 */
export async function createLoopDevice(
  opts: { sizeBytes?: number; attach?: boolean; shell?: Shell } = {},
): Promise<LoopDevice> {
  const shell = opts.shell ?? new ZxShell();
  const dir = requireEnv(ENV.tmp);
  const file = path.join(dir, `loop-${randomBytes(4).toString('hex')}.img`);
  const fh = await open(file, 'wx');
  try {
    await fh.truncate(opts.sizeBytes ?? GiB);
  } finally {
    await fh.close();
  }
  let device: string | undefined;
  const loop: LoopDevice = {
    file,
    get device(): string {
      if (!device) throw new Error(`loop file ${file} is not attached to a device; call attach() first`);
      return device;
    },
    get attached() {
      return device !== undefined;
    },
    async attach() {
      if (!device) device = await attachLoop(file, shell);
      return device;
    },
    async detach() {
      if (!device) return;
      await detachLoop(device, shell, file);
      device = undefined;
    },
  };
  if (opts.attach ?? true) await loop.attach();
  return loop;
}
