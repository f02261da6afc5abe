import { pino } from 'pino';
import type { BootstrapContext, HostFacts } from '../../../bootstrap/context.ts';
import { NETWORK_LIMITS } from '../../../bootstrap/network-limits.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import type { HostConfigInput } from '../../../shared/config/schema.ts';
import type { RunOptions, Shell, ShellResult } from '../../../shared/shell.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fakeMounts } from '../shared/fake-mounts.ts';

export interface Call {
  cmd: string;
  args: string[];
  opts?: RunOptions;
}

type Responder = (call: Call) => Partial<ShellResult> | undefined;

/** A Shell that records argv and answers from a list of responders (first match wins; default exit 0). */
export class FakeShell implements Shell {
  calls: Call[] = [];
  constructor(private responders: Responder[] = []) {}
  on(responder: Responder): this {
    this.responders.push(responder);
    return this;
  }
  async run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<ShellResult> {
    const call = { cmd, args: [...args], opts };
    this.calls.push(call);
    for (const r of this.responders) {
      const out = r(call);
      if (out) return { exitCode: 0, stdout: '', stderr: '', ...out };
    }
    return { exitCode: 0, stdout: '', stderr: '' };
  }
  /** Calls as `cmd arg arg` strings, for readable assertions. */
  lines(): string[] {
    return this.calls.map((c) => [c.cmd, ...c.args].join(' '));
  }
}

/** Answers a call whose `cmd args…` line starts with `prefix`. */
export const when =
  (prefix: string, result: Partial<ShellResult>): Responder =>
  (c) =>
    [c.cmd, ...c.args].join(' ').startsWith(prefix) ? result : undefined;

export { FakeClock };

/** Block devices get distinct device numbers in the order listed (259:10, 259:11, …) unless given. */
export function fakeHost(
  opts: Partial<HostFacts> & {
    blockDevices?: Set<string>;
    deviceNumbers?: Record<string, string>;
    /** Directory contents by path; any other directory is empty or absent. */
    dirs?: Record<string, string[]>;
  } = {},
): HostFacts {
  const blocks = opts.blockDevices ?? new Set<string>();
  const numbers: Record<string, string> = Object.fromEntries([...blocks].map((b, i) => [b, `259:${10 + i}`]));
  Object.assign(numbers, opts.deviceNumbers);
  return {
    isBlockDevice: opts.isBlockDevice ?? (async (p) => blocks.has(p)),
    realpath: opts.realpath ?? (async (p) => (blocks.has(p) || p.startsWith('/') ? p : undefined)),
    deviceNumber: opts.deviceNumber ?? (async (p) => numbers[p]),
    listDir: opts.listDir ?? (async (p) => [...(opts.dirs?.[p] ?? [])].sort()),
    systemdRunning: opts.systemdRunning ?? (() => false),
    udevRunning: opts.udevRunning ?? (() => false),
  };
}

export function fakeContext(
  config: HostConfigInput,
  over: Partial<BootstrapContext> = {},
): BootstrapContext & { shell: FakeShell; clock: FakeClock } {
  return {
    config: parseConfig(config),
    configPath: '/etc/dalston/host.json',
    root: '/',
    dryRun: false,
    shell: new FakeShell(),
    host: fakeHost(),
    // Nothing mounted but the root filesystem unless a test says otherwise.
    mounts: fakeMounts([]),
    clock: new FakeClock(),
    log: pino({ level: 'silent' }),
    sysfsRoot: '/nonexistent-sys',
    devRoot: '/nonexistent-dev',
    progress: () => {},
    ssm: () => {
      throw new Error('no SSM in this test');
    },
    limits: NETWORK_LIMITS,
    state: {},
    ...over,
  } as BootstrapContext & { shell: FakeShell; clock: FakeClock };
}

export const ok = (stdout = ''): Partial<ShellResult> => ({ exitCode: 0, stdout });
export const fail = (exitCode: number, stderr = ''): Partial<ShellResult> => ({ exitCode, stderr });
