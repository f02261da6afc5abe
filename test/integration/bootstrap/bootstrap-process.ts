import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostConfigInput } from '../../../shared/config/schema.ts';
import { ZxShell } from '../../../shared/shell.ts';

const ENTRY = fileURLToPath(new URL('./bootstrap-entry.ts', import.meta.url));

export interface StepLine {
  step: string;
  result: string;
  detail: string;
  durationMs: number;
}

export interface BootstrapRun {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
  steps: Record<string, StepLine>;
}

/** Runs `dalston-host bootstrap ARGS` as a child process (stdout is a pipe: pino JSON). */
export function runBootstrap(args: string[], env: Record<string, string> = {}): Promise<BootstrapRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const steps: Record<string, StepLine> = {};
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const j = JSON.parse(line) as Partial<StepLine>;
        if (j.step && j.result) steps[j.step] = j as StepLine;
      }
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - t0, steps });
    });
  });
}

/** A scratch --root with an fstab and host.json, plus a dataDir outside it (dataDir is never prefixed). */
export async function makeRoot(config: (dataDir: string) => HostConfigInput, fstab = DEFAULT_FSTAB) {
  const base = process.env.DALSTON_TEST_TMP ?? tmpdir();
  const dir = await mkdtemp(join(base, 'bootstrap-'));
  const root = join(dir, 'root');
  const dataDir = join(dir, 'data');
  await mkdir(join(root, 'etc/dalston'), { recursive: true });
  await writeFile(join(root, 'etc/fstab'), fstab);
  await writeFile(join(root, 'etc/dalston/host.json'), JSON.stringify(config(dataDir), null, 2));
  return { dir, root, dataDir, fstab: join(root, 'etc/fstab') };
}

/** Lines that must survive byte-for-byte; `noauto` so `mount -a` leaves the tmpfs alone. */
export const DEFAULT_FSTAB =
  '# /etc/fstab: static file system information.\n#\n# <file system> <mount point>   <type>  <options>       <dump>  <pass>\ntmpfs\t/mnt\ttmpfs\tnoauto,size=1M\t0 0\n';

export async function sha256(path: string, limitBytes?: number): Promise<string> {
  const hash = createHash('sha256');
  const stream = createReadStream(path, limitBytes ? { end: limitBytes - 1 } : {});
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export const fileHash = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

const shell = new ZxShell();

/** Source device mounted exactly at `dir`, or undefined. */
export async function mountedAt(dir: string): Promise<string | undefined> {
  const r = await shell.run('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', dir]);
  return r.exitCode === 0 ? r.stdout.trim() || undefined : undefined;
}

export async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await shell.run(cmd, args);
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

/** Unmounts everything under a test dir (innermost first); for finally blocks. */
export async function unmountAll(dir: string): Promise<void> {
  const r = await shell.run('findmnt', ['--raw', '--noheadings', '-o', 'TARGET']);
  const targets = r.stdout
    .split('\n')
    .filter((t) => t === dir || t.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) {
    if ((await shell.run('umount', [t])).exitCode !== 0) await shell.run('umount', ['-l', t]);
  }
}
