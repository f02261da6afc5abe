/**
 * The host's running time, for `dalston-aws cost`: the agent keeps one object
 * per UTC month, `<statusPrefix><instance>/running/<YYYY-MM>.json`, with the
 * intervals it was up (merged, so a month is a few dozen entries, not one per
 * heartbeat). It rewrites the current interval's end every few minutes and at
 * shutdown, so a crash loses at most that much. Pure helpers here; the agent
 * and the CLI do the IO.
 */
import { z } from 'zod';

const isoTime = z.iso.datetime({ offset: true });

export const runningMonthSchema = z.object({
  /** `YYYY-MM` (UTC). */
  month: z.string().regex(/^\d{4}-\d{2}$/),
  intervals: z.array(z.object({ from: isoTime, to: isoTime })),
});

export type RunningMonth = z.infer<typeof runningMonthSchema>;

export const monthOf = (ms: number): string => new Date(ms).toISOString().slice(0, 7);

/** `<prefix><instance>/running/<YYYY-MM>.json`. */
export function runningHoursKey(prefix: string, instance: string, month: string): string {
  return `${prefix}${instance}/running/${month}.json`;
}

/**
 * Records that the host was up from `from` to `to` (epoch ms, same month):
 * extends the last interval when it touches it (gap ≤ `joinGapMs`, e.g. two
 * heartbeats), else starts a new one.
 */
export function recordRunning(
  month: RunningMonth,
  from: number,
  to: number,
  joinGapMs: number,
): RunningMonth {
  const intervals = [...month.intervals];
  const last = intervals.at(-1);
  if (last && from - Date.parse(last.to) <= joinGapMs && from >= Date.parse(last.from)) {
    intervals[intervals.length - 1] = {
      from: last.from,
      to: new Date(Math.max(to, Date.parse(last.to))).toISOString(),
    };
  } else {
    intervals.push({ from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  }
  return { month: month.month, intervals };
}

/** Hours covered by the intervals (overlaps counted once). */
export function runningHours(month: RunningMonth): number {
  const spans = month.intervals
    .map((i) => [Date.parse(i.from), Date.parse(i.to)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of spans) {
    const start = Math.max(a, end);
    if (b > start) total += b - start;
    end = Math.max(end, b);
  }
  return total / 3_600_000;
}
