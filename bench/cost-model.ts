/**
 * The monthly-cost model behind `npm run sim:cost` (bench/cost-simulation.ts): one
 * month of a stated workload, and the hours the instance is billed under four ways
 * of running it. Pure and seeded, so the unit test checks its arithmetic and the
 * results file is the same on every run.
 *
 * Workload model:
 * - a month is 730 h (AWS's convention, as cli/pricing.ts), starting on a Monday;
 * - use every day: `usageHoursPerDay` split into `sessionsPerDay` equal sessions, each at a
 *   random (seeded) place in its share of the active window (08:00 for 12 h, longer when
 *   the use is longer; all day at 24 h/day);
 * - starting costs `bootMinutes` of billed time before a session can begin (`up` waits for
 *   the stack), stopping `shutdownMinutes` after the stop begins.
 *
 * The four ways:
 * - always on: billed 730 h;
 * - manual stop: `up` before the day's first session, `down` after the day's last one —
 *   remembered with probability `downProbabilityWeekday` (Mon–Fri) or
 *   `downProbabilityWeekend` (Sat–Sun); a forgotten host runs on to the next `down`;
 * - idle stop (nobody runs `down`): the agent stops the host `stopAfterMinutes` after the
 *   last work, never before `bootGraceMinutes` after its start (agent/idle/policy.ts: the
 *   announcement falls inside that window, so it adds nothing); a session that begins
 *   before the stop keeps the host up;
 * - ideal: only the used hours are billed.
 * Storage (EBS) is billed all month in every case.
 */

export const MONTH_HOURS = 730;
const MONTH_MIN = MONTH_HOURS * 60;

export interface Workload {
  usageHoursPerDay: number;
  sessionsPerDay: number;
  bootMinutes: number;
  shutdownMinutes: number;
  downProbabilityWeekday: number;
  downProbabilityWeekend: number;
  seed: number;
}

export interface IdleWindow {
  stopAfterMinutes: number;
  bootGraceMinutes: number;
}

export interface Prices {
  hourlyUsd: number;
  storageMonthlyUsd: number;
}

export type Strategy = 'alwaysOn' | 'manualStop' | 'idleStop' | 'ideal';
export const STRATEGIES: readonly Strategy[] = ['alwaysOn', 'manualStop', 'idleStop', 'ideal'];

/** [from, to) in minutes since the month began. */
export type Span = readonly [number, number];

/** mulberry32: a tiny seeded generator, so every run draws the same numbers. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The month's sessions, in order, each tagged with its day (0 = Monday). */
export function sessions(w: Workload): Array<{ day: number; span: Span }> {
  const out: Array<{ day: number; span: Span }> = [];
  const u = Math.min(24, Math.max(0, w.usageHoursPerDay));
  if (u === 0 || w.sessionsPerDay < 1) return out;
  const rand = seededRandom(w.seed);
  const windowH = Math.min(24, Math.max(12, u));
  // 08:00 while the window fits the day; a longer one starts earlier, so days never overlap.
  const startH = Math.max(0, Math.min(8, 24 - windowH));
  const lenMin = (u * 60) / w.sessionsPerDay;
  const slotMin = (windowH * 60) / w.sessionsPerDay;
  for (let day = 0; day * 1440 < MONTH_MIN; day++) {
    for (let k = 0; k < w.sessionsPerDay; k++) {
      const offset = rand() * (slotMin - lenMin);
      const from = day * 1440 + startH * 60 + k * slotMin + offset;
      const to = Math.min(from + lenMin, MONTH_MIN);
      if (from < MONTH_MIN && to > from) out.push({ day, span: [from, to] });
    }
  }
  return out;
}

/** Merges overlapping or touching spans and clips them to the month. */
export function merge(spans: readonly Span[]): Span[] {
  const s = spans
    .map(([a, b]) => [Math.max(0, a), Math.min(MONTH_MIN, b)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of s) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export const hoursOf = (spans: readonly Span[]): number =>
  merge(spans).reduce((h, [a, b]) => h + (b - a), 0) / 60;

/** The billed spans under the idle stop: nobody runs `down`. */
export function idleStopSpans(w: Workload, idle: IdleWindow): Span[] {
  const up: Array<[number, number]> = [];
  let bootAt = Number.NEGATIVE_INFINITY;
  for (const { span } of sessions(w)) {
    const [from, to] = span;
    const cur = up.at(-1);
    // Still up when the user comes to start (a session before the stop cancels it)?
    if (!cur || cur[1] <= from - w.bootMinutes) {
      bootAt = from - w.bootMinutes;
      up.push([bootAt, to]);
    }
    const last = up.at(-1)!;
    const stopAt = Math.max(to + idle.stopAfterMinutes, bootAt + idle.bootGraceMinutes);
    last[1] = Math.max(last[1], stopAt + w.shutdownMinutes);
  }
  return merge(up);
}

/** The billed spans when a person runs `up` and (usually) `down` every day. */
export function manualStopSpans(w: Workload): Span[] {
  const rand = seededRandom(w.seed + 1);
  const byDay = new Map<number, Span[]>();
  for (const s of sessions(w)) byDay.set(s.day, [...(byDay.get(s.day) ?? []), s.span]);
  const up: Array<[number, number]> = [];
  let running = false;
  for (const [day, spans] of [...byDay].sort((a, b) => a[0] - b[0])) {
    const first = spans[0]!;
    const last = spans.at(-1)!;
    if (!running) {
      up.push([first[0] - w.bootMinutes, last[1]]);
      running = true;
    } else {
      up.at(-1)![1] = last[1];
    }
    const weekend = day % 7 >= 5;
    const p = weekend ? w.downProbabilityWeekend : w.downProbabilityWeekday;
    if (rand() < p) {
      up.at(-1)![1] = last[1] + w.shutdownMinutes;
      running = false;
    }
  }
  // Forgotten at the month's end: it runs to the end.
  if (running) up.at(-1)![1] = MONTH_MIN;
  return merge(up);
}

export function billedHours(strategy: Strategy, w: Workload, idle: IdleWindow): number {
  switch (strategy) {
    case 'alwaysOn':
      return MONTH_HOURS;
    case 'ideal':
      return hoursOf(sessions(w).map((s) => s.span));
    case 'idleStop':
      return hoursOf(idleStopSpans(w, idle));
    case 'manualStop':
      return hoursOf(manualStopSpans(w));
  }
}

export const monthlyCost = (hours: number, p: Prices): number => hours * p.hourlyUsd + p.storageMonthlyUsd;

export const round2 = (n: number) => Math.round(n * 100) / 100;
