/**
 * Pure: reads `journalctl -o json` output for the product's pino lines, so the
 * rehearsal can check that journald files each line at its pino level's priority
 * (shared/logger.ts prefixes `<N>` when stdout is the journal).
 */
import { journalPriority } from '../../shared/logger.ts';

export interface PinoJournalEntry {
  /** journald's PRIORITY field. */
  priority: number;
  /** pino's level label. */
  level: string;
  msg: string;
  /** The JSON keys of the line (to see that `time` and `pid` are left to the journal). */
  keys: string[];
}

/** The pino JSON entries of `journalctl -o json` output; other lines (systemd's own) are skipped. */
export function pinoJournalEntries(output: string): PinoJournalEntry[] {
  const entries: PinoJournalEntry[] = [];
  for (const line of output.split('\n')) {
    if (!line.trim()) continue;
    let record: { PRIORITY?: unknown; MESSAGE?: unknown };
    let body: Record<string, unknown>;
    try {
      record = JSON.parse(line);
      if (typeof record.MESSAGE !== 'string' || !record.MESSAGE.startsWith('{')) continue;
      body = JSON.parse(record.MESSAGE);
    } catch {
      continue;
    }
    if (typeof body.level !== 'string') continue;
    entries.push({
      priority: Number(record.PRIORITY),
      level: body.level,
      msg: typeof body.msg === 'string' ? body.msg : '',
      keys: Object.keys(body),
    });
  }
  return entries;
}

/** What is wrong with the entries, one line each: a priority that is not the level's, a duplicated time or pid. */
export function journalLevelProblems(entries: readonly PinoJournalEntry[]): string[] {
  const problems: string[] = [];
  for (const e of entries) {
    const want = journalPriority(e.level);
    if (e.priority !== want) problems.push(`"${e.msg}" (${e.level}) at priority ${e.priority}, not ${want}`);
    const dup = e.keys.filter((k) => k === 'time' || k === 'pid');
    if (dup.length > 0) problems.push(`"${e.msg}" repeats ${dup.join(' and ')}, which the journal records`);
  }
  return problems;
}
