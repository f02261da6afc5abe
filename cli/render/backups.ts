import { formatBytes } from '../../shared/format-bytes.ts';
import type { BackupRow } from '../backups-report.ts';
import { formatDuration, type Styler } from './format.ts';

/** The backups as a table, newest first; incomplete ones say so. */
export function renderBackups(rows: readonly BackupRow[], location: string, style: Styler): string {
  if (rows.length === 0) return `No backups under ${location}\n`;
  const table = rows.map((r) => [
    r.at ? r.at.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z') : '?',
    r.ageSeconds === null ? '?' : `${formatDuration(r.ageSeconds)} ago`,
    formatBytes(r.sizeBytes),
    r.alembicRevision ?? '-',
    r.problem ?? r.key.slice(r.key.lastIndexOf('/') + 1),
  ]);
  const head = ['TIME (UTC)', 'AGE', 'SIZE', 'ALEMBIC REVISION', 'OBJECT'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [`Backups under ${location}`, style.bold(line(head))];
  rows.forEach((r, i) => {
    const text = line(table[i]!);
    out.push(r.complete ? text : style.red(text));
  });
  return `${out.join('\n')}\n`;
}
