import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { RunOptions, Shell, ShellResult } from '../../shared/shell.ts';

export interface Bind {
  host: string;
  /** Path inside the machine; the same as `host` when left out. */
  machine?: string;
  readOnly?: boolean;
}

export interface BootOptions {
  rootfs: string;
  /** Network namespace the machine joins (`ip netns` path); the host's own when left out. */
  netnsPath?: string;
  binds: readonly Bind[];
  /** Host file that receives the machine's console (systemd's boot messages). */
  consoleLog: string;
}

/** The environment every command inside the machine gets: a login-free root shell's. */
export const MACHINE_ENV = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'HOME=/root',
  'LANG=C.UTF-8',
  'SYSTEMD_PAGER=',
  'SYSTEMD_COLORS=0',
];

/** Pure: the systemd-nspawn argv (shared/LAB.md's recipe that works on these hosts). */
export function nspawnArgs(opts: BootOptions): string[] {
  const args = [
    '-q',
    // No machined registration: PID 1 of the host is not systemd.
    '--register=no',
    '--keep-unit',
    '--capability=all',
    // runc needs the keyring syscalls (session keys) and bpf (device cgroup).
    '--system-call-filter=@keyring bpf',
    // A writable cgroup tree for dockerd/runc inside.
    '--bind=/sys/fs/cgroup',
  ];
  if (opts.netnsPath) args.push(`--network-namespace-path=${opts.netnsPath}`);
  for (const b of opts.binds) {
    const spec = b.machine && b.machine !== b.host ? `${b.host}:${b.machine}` : b.host;
    args.push(`${b.readOnly ? '--bind-ro' : '--bind'}=${spec}`);
  }
  args.push('-b', '-D', opts.rootfs, '--console=pipe');
  return args;
}

/**
 * Pure: the nsenter argv that runs `cmd args` in every namespace of the machine's
 * PID 1, chrooted into it. The time limit is enforced inside the machine
 * (coreutils `timeout`): killing nsenter alone would leave the command running
 * and holding its output pipe open.
 */
export function nsenterArgs(
  leader: number,
  cmd: string,
  args: readonly string[],
  timeoutSeconds?: number,
): string[] {
  const limit = timeoutSeconds ? ['timeout', '-k', '5', String(Math.ceil(timeoutSeconds))] : [];
  return [
    '-t',
    String(leader),
    '-m',
    '-u',
    '-i',
    '-n',
    '-p',
    '-C',
    '-r',
    '-w',
    '--',
    ...limit,
    'env',
    '-i',
    ...MACHINE_ENV,
    cmd,
    ...args,
  ];
}

/** Pure: the parent pid from a /proc/<pid>/stat line (the command name may hold spaces and parentheses). */
export function parentPidFromStat(stat: string): number | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    if (stat && parentPidFromStat(stat) === pid) out.push(Number(name));
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One booted systemd-nspawn machine. Commands run inside through nsenter into
 * the namespaces of its PID 1 (`--register=no` rules out machinectl/-M).
 */
export class Machine {
  /** CLOCK_MONOTONIC (ns) when nspawn was started: the same clock as systemd's *TimestampMonotonic. */
  readonly startedAtNs: bigint;
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    private readonly shell: Shell,
    private readonly proc: ChildProcess,
    readonly leader: number,
    startedAtNs: bigint,
    exited: Promise<number | null>,
  ) {
    this.startedAtNs = startedAtNs;
    this.exited = exited.then((code) => {
      this.exitCode = code;
      return code;
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  static async boot(shell: Shell, opts: BootOptions, timeoutMs = 30_000): Promise<Machine> {
    const fd = openSync(opts.consoleLog, 'a');
    const startedAtNs = process.hrtime.bigint();
    // Its own process group: a Ctrl-C reaches the rehearsal, whose clean-up powers the machine off in order.
    const proc = spawn('systemd-nspawn', nspawnArgs(opts), {
      env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: '1' },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) => {
      proc.on('exit', (code) => {
        exitCode = code;
        resolve(code);
      });
      proc.on('error', () => {
        exitCode = 127;
        resolve(127);
      });
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exitCode !== undefined) {
        const tail = (await readFile(opts.consoleLog, 'utf8').catch(() => '')).trim().split('\n').slice(-10);
        throw new Error(
          `systemd-nspawn exited (${exitCode}) before the machine booted:\n  ${tail.join('\n  ')}`,
        );
      }
      if (proc.pid) {
        const [leader] = await childrenOf(proc.pid);
        if (leader) return new Machine(shell, proc, leader, startedAtNs, exited);
      }
      await sleep(50);
    }
    proc.kill('SIGKILL');
    throw new Error(`the machine's PID 1 did not appear within ${timeoutMs / 1000} s`);
  }

  /** Runs a command inside the machine (as root, in its namespaces and root directory). */
  exec(cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<ShellResult> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    return this.shell.run('nsenter', nsenterArgs(this.leader, cmd, args, timeoutMs / 1000), {
      ...opts,
      // The in-machine limit fires first; this one only catches a stuck nsenter.
      timeoutMs: timeoutMs + 15_000,
    });
  }

  /** Like exec, but throws with the command's output when it fails. */
  async execChecked(cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<string> {
    const r = await this.exec(cmd, args, opts);
    if (r.exitCode !== 0) {
      const detail = (r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ');
      throw new Error(`(in the machine) ${cmd} ${args.join(' ')} exited ${r.exitCode}: ${detail}`);
    }
    return r.stdout;
  }

  /** Waits until systemd finished booting; returns its state (`running` or `degraded`). */
  async waitBooted(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline && this.running) {
      const r = await this.exec('systemctl', ['is-system-running'], { timeoutMs: 10_000 });
      last = r.stdout.trim() || r.stderr.trim();
      if (last === 'running' || last === 'degraded') return last;
      await sleep(200);
    }
    throw new Error(
      `the machine did not finish booting within ${timeoutMs / 1000} s (systemd says "${last}")`,
    );
  }

  /** systemd's monotonic timestamp of a unit property, as seconds since this boot started; undefined if unset. */
  async unitTimestamp(unit: string, property: string): Promise<number | undefined> {
    const r = await this.exec('systemctl', ['show', unit, '-p', property, '--value'], { timeoutMs: 10_000 });
    const us = BigInt(r.stdout.trim() || '0');
    if (r.exitCode !== 0 || us === 0n) return undefined;
    return Number(us * 1000n - this.startedAtNs) / 1e9;
  }

  /** A clean `systemctl poweroff`; SIGTERM to nspawn (also a clean poweroff) and then SIGKILL as fallbacks. */
  async poweroff(timeoutMs: number): Promise<{ clean: boolean; seconds: number }> {
    const t0 = Date.now();
    if (!this.running) return { clean: true, seconds: 0 };
    await this.exec('systemctl', ['poweroff'], { timeoutMs: 10_000 });
    if (await this.waitExit(timeoutMs)) return { clean: true, seconds: (Date.now() - t0) / 1000 };
    this.proc.kill('SIGTERM');
    if (await this.waitExit(15_000)) return { clean: false, seconds: (Date.now() - t0) / 1000 };
    await this.kill();
    return { clean: false, seconds: (Date.now() - t0) / 1000 };
  }

  /** Ends the machine at once: SIGKILL to its PID 1 takes the whole PID namespace with it. */
  async kill(): Promise<void> {
    if (!this.running) return;
    try {
      process.kill(this.leader, 'SIGKILL');
    } catch {
      // already gone
    }
    if (!(await this.waitExit(10_000))) this.proc.kill('SIGKILL');
    await this.waitExit(10_000);
  }

  private async waitExit(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    });
    try {
      return await Promise.race([this.exited.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
