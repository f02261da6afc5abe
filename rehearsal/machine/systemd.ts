import { waitFor } from '../wait.ts';
import type { Machine } from './nspawn.ts';

/**
 * systemd inside the machine, read the way the scenarios need it: unit
 * properties, waiting for a unit to reach a state, and a unit's journal (the
 * product logs pino JSON lines under systemd; journalMessages shows their `msg`).
 */

export type UnitProps = Record<string, string>;

/** All these helpers need of a machine: running a command inside it. */
export type InMachine = Pick<Machine, 'exec'>;

export async function unitProps(m: InMachine, unit: string, props: readonly string[]): Promise<UnitProps> {
  const r = await m.exec('systemctl', ['show', unit, ...props.flatMap((p) => ['-p', p])], {
    timeoutMs: 15_000,
  });
  const out: UnitProps = {};
  for (const line of r.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** A oneshot unit (RemainAfterExit) has finished, well or not. */
export const finished = (p: UnitProps): boolean => p.ActiveState === 'active' || p.ActiveState === 'failed';

export interface WaitUnitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** What is awaited, for the timeout message; "<unit> to reach the expected state" when left out. */
  what?: string;
}

/**
 * Polls the unit's `props` until `until` accepts them; returns them. On timeout
 * the error shows the last properties seen.
 */
export async function waitUnit(
  m: InMachine,
  unit: string,
  props: readonly string[],
  until: (p: UnitProps) => boolean,
  opts: WaitUnitOptions,
): Promise<UnitProps> {
  let last: UnitProps = {};
  return waitFor(
    opts.what ?? `${unit} to reach the expected state`,
    opts.timeoutMs,
    async () => {
      last = await unitProps(m, unit, props);
      return until(last) ? last : undefined;
    },
    () => `${unit} ${props.map((p) => `${p}=${last[p] ?? '?'}`).join(' ')}`,
    opts.intervalMs ?? 500,
  );
}

export interface JournalOptions {
  /** journalctl's -b: 0 is this boot, -1 the one before. */
  boot?: number;
}

/** The unit's journal for one boot, message text only (`-o cat`). */
export async function journal(m: InMachine, unit: string, opts: JournalOptions = {}): Promise<string> {
  const r = await m.exec('journalctl', ['-b', String(opts.boot ?? 0), '-u', unit, '-o', 'cat', '--no-pager']);
  return r.stdout;
}

/** Pure: a log line's message: the `msg` of a pino JSON line, any other line as it is. */
export function messageOf(line: string): string {
  const t = line.trim();
  if (!t.startsWith('{')) return t;
  try {
    const o = JSON.parse(t) as { msg?: unknown };
    return typeof o.msg === 'string' ? o.msg : t;
  } catch {
    return t;
  }
}

/** Pure: the non-empty messages of journal text (pino JSON decoded). */
export function journalMessagesOf(text: string): string[] {
  return text.split('\n').map(messageOf).filter(Boolean);
}

/** The unit's messages for one boot, pino JSON lines decoded to their `msg`. */
export async function journalMessages(
  m: InMachine,
  unit: string,
  opts: JournalOptions = {},
): Promise<string[]> {
  return journalMessagesOf(await journal(m, unit, opts));
}
