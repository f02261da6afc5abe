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
 * The one logger: pino JSON on stdout (journald keeps it on the host).
 * `destination` lets tests capture lines.
 */
export function createLogger(
  opts: { name?: string; level?: string; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      name: opts.name ?? 'dalston-host',
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redactSecrets(obj) as Record<string, unknown>,
      },
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
