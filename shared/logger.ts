import { fstatSync } from 'node:fs';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/** Keys whose values are never logged, at any depth. */
const SECRET_KEY = /(KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL)/i;

/** Replaces the values of secret-looking keys; leaves everything else untouched. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      SECRET_KEY.test(k) && v !== undefined && v !== null && v !== ''
        ? '[redacted]'
        : redactSecrets(v, depth + 1);
  }
  return out;
}

/**
 * journald priority (syslog severity) for a pino level label: fatal→crit(2),
 * error→err(3), warn→warning(4), info→info(6), debug/trace→debug(7).
 * Unknown labels are info, the journal's default for a line without a prefix.
 */
export function journalPriority(label: string): number {
  switch (label) {
    case 'fatal':
      return 2;
    case 'error':
      return 3;
    case 'warn':
      return 4;
    case 'debug':
    case 'trace':
      return 7;
    default:
      return 6;
  }
}

/**
 * True when stdout is the journal: systemd sets JOURNAL_STREAM to `<dev>:<inode>`
 * of the stream it connected, and a child that inherited the variable but writes
 * elsewhere (a pipe, a terminal) has a stdout with another dev/inode.
 */
export function stdoutIsJournal(
  journalStream: string | undefined,
  stdout: { dev: number | bigint; ino: number | bigint } | undefined,
): boolean {
  if (!journalStream || !stdout) return false;
  const m = /^(\d+):(\d+)$/.exec(journalStream.trim());
  if (!m) return false;
  return BigInt(m[1]!) === BigInt(stdout.dev) && BigInt(m[2]!) === BigInt(stdout.ino);
}

function processStdoutIsJournal(): boolean {
  const journalStream = process.env.JOURNAL_STREAM;
  if (!journalStream) return false;
  try {
    return stdoutIsJournal(journalStream, fstatSync(1, { bigint: true }));
  } catch {
    return false;
  }
}

/** The level label pino writes first on each line (see `formatters.level`). */
const LEADING_LEVEL = /^\{"level":"([a-z]+)"/;

/**
 * Prefixes a serialized line with its journald priority (`<3>{"level":"error",…}`);
 * journald strips the prefix and files the line at that priority
 * (SyslogLevelPrefix=, on by default), so `journalctl -p err` works.
 */
export function withJournalPriority(line: string): string {
  const label = LEADING_LEVEL.exec(line)?.[1] ?? 'info';
  return `<${journalPriority(label)}>${line}`;
}

/**
 * The one logger: pino JSON on stdout (journald keeps it on the host).
 * When stdout is the journal (or `journal: true`), each line carries its
 * priority prefix and leaves out `time` and `pid`, which the journal records
 * itself (`journalctl -o json` shows both; `-o short-iso` prints the time).
 * `destination` lets tests capture lines.
 */
export function createLogger(
  opts: { name?: string; level?: string; destination?: DestinationStream; journal?: boolean } = {},
): Logger {
  const journal = opts.journal ?? (opts.destination === undefined && processStdoutIsJournal());
  return pino(
    {
      name: opts.name ?? 'dalston-host',
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      base: journal ? {} : { pid: process.pid },
      timestamp: journal ? false : pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redactSecrets(obj) as Record<string, unknown>,
      },
      hooks: journal ? { streamWrite: withJournalPriority } : {},
    },
    opts.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/** The parts of a program whose log lines are told apart by a `component` field. */
export type LogComponent =
  | 'agent'
  | 'preflight'
  | 'supervisor'
  | 'events'
  | 'docker'
  | 's3'
  | 'http'
  | 'notify'
  | 'probe'
  | 'backup'
  | 'idle'
  | 'converge'
  | 'bootstrap';

/** A child logger whose every line carries `component`; made where the component is wired. */
export function componentLogger(root: Logger, component: LogComponent): Logger {
  return root.child({ component });
}
