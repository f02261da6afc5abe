import { formatBytes } from '../shared/format-bytes.ts';
import type { Logger } from '../shared/logger.ts';

/**
 * Where backup and restore say what they do: a terminal gets plain lines and a
 * live progress line (bytes, rate, elapsed); anything else (systemd's journal)
 * gets pino JSON, with a progress line every half minute so a long dump is seen
 * to move.
 */
export interface BackupOutput {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  /** `what` so far: `total` bytes after `elapsedMs`. */
  progress(what: string, total: number, elapsedMs: number): void;
  /** Ends a progress line (a terminal moves to the next line). */
  endProgress(): void;
}

/** Pure: `verifying 123.4 MiB · 45.6 MiB/s · 0:07`. */
export function progressLine(what: string, total: number, elapsedMs: number): string {
  const s = Math.max(0, Math.floor(elapsedMs / 1000));
  const clock = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  const rate = elapsedMs > 0 ? `${formatBytes((total / elapsedMs) * 1000)}/s` : '…';
  return `${what} ${formatBytes(total)} · ${rate} · ${clock}`;
}

export function terminalOutput(out: { write(s: string): unknown }, everyMs = 250): BackupOutput {
  let shownAt = Number.NEGATIVE_INFINITY;
  let open = false;
  const newline = () => {
    if (open) out.write('\n');
    open = false;
  };
  return {
    info: (m) => {
      newline();
      out.write(`${m}\n`);
    },
    warn: (m) => {
      newline();
      out.write(`warning: ${m}\n`);
    },
    progress: (what, total, elapsedMs) => {
      const now = performance.now();
      if (now - shownAt < everyMs) return;
      shownAt = now;
      open = true;
      out.write(`\r\x1b[2K  ${progressLine(what, total, elapsedMs)}`);
    },
    endProgress: () => {
      shownAt = Number.NEGATIVE_INFINITY;
      newline();
    },
  };
}

export function jsonOutput(log: Logger, everyMs = 30_000): BackupOutput {
  let shownAt = performance.now();
  return {
    info: (m, f) => log.info(f ?? {}, m),
    warn: (m, f) => log.warn(f ?? {}, m),
    progress: (what, total, elapsedMs) => {
      const now = performance.now();
      if (now - shownAt < everyMs) return;
      shownAt = now;
      log.info({ bytes: total, elapsedMs: Math.round(elapsedMs) }, progressLine(what, total, elapsedMs));
    },
    endProgress: () => {
      shownAt = performance.now();
    },
  };
}
