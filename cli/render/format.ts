/** Compact human durations: 45s, 3m 05s, 2h 14m, 3d 4h. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Elapsed clock for progress lines: 0:07, 12:30, 1:02:03. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** UTC, minute precision is enough for an operator: 2026-11-28 06:12:05 UTC. */
export function formatTime(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function formatUsd(n: number | null): string {
  return n === null ? 'unknown' : `$${n.toFixed(2)}`;
}

/** Parses 90s, 10m, 1h, 1h30m or bare seconds; null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t);
  if (!m || t === '') return null;
  const [, h, min, s] = m;
  return ((Number(h ?? 0) * 60 + Number(min ?? 0)) * 60 + Number(s ?? 0)) * 1000;
}

export interface Styler {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

const wrap = (code: number, reset: number) => (s: string) => `\x1b[${code}m${s}\x1b[${reset}m`;
export const ansi: Styler = {
  green: wrap(32, 39),
  red: wrap(31, 39),
  yellow: wrap(33, 39),
  bold: wrap(1, 22),
  dim: wrap(2, 22),
};
const id = (s: string) => s;
export const plain: Styler = { green: id, red: id, yellow: id, bold: id, dim: id };

/** Colour only on a terminal, and never with NO_COLOR set to anything non-empty (no-color.org). */
export function colourWanted(out: { isTTY?: boolean | undefined }, env: NodeJS.ProcessEnv): boolean {
  return out.isTTY === true && !env.NO_COLOR;
}

/** The styler for this output: `ansi` on a terminal that wants colour, `plain` otherwise. */
export function stylerFor(out: { isTTY?: boolean | undefined }, env: NodeJS.ProcessEnv): Styler {
  return colourWanted(out, env) ? ansi : plain;
}
