import {
  monthOf,
  type RunningMonth,
  recordRunning,
  runningHoursKey,
  runningMonthSchema,
} from '../../shared/idle/running-hours.ts';
import type { Logger } from '../../shared/logger.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';
import type { SmallObjects } from './small-objects.ts';

/** Pure: [from, to] cut at UTC month boundaries, each piece with its `YYYY-MM`. */
export function monthSpans(from: number, to: number): { month: string; from: number; to: number }[] {
  const out: { month: string; from: number; to: number }[] = [];
  let start = from;
  while (start < to) {
    const d = new Date(start);
    const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    const end = Math.min(to, next);
    out.push({ month: monthOf(start), from: start, to: end });
    start = end;
  }
  return out;
}

export interface RunningHoursOptions {
  objects: SmallObjects;
  prefix: string;
  instance: string;
  /** When this run of the host began (epoch ms). */
  upSince: number;
  logger: Logger;
  clock?: Clock;
  /** How often the current interval's end is rewritten: a crash loses at most this much. */
  everyMs?: number;
}

/**
 * Keeps `running/<YYYY-MM>.json` (shared/idle/running-hours.ts) up to date
 * with this run's up-time: every `everyMs` and once more at shutdown. A run
 * across a month's end is split: each month's object holds its own part.
 * Errors are logged and retried at the next turn; they never reach the agent.
 */
export class RunningHoursRecorder {
  private readonly clock: Clock;
  private readonly months = new Map<string, RunningMonth>();
  private timer: TimerHandle | null = null;
  private writing: Promise<void> | null = null;
  private stopped = false;
  private lastError = '';

  constructor(private readonly o: RunningHoursOptions) {
    this.clock = o.clock ?? systemClock;
  }

  start(): void {
    const every = this.o.everyMs ?? 10 * 60_000;
    const again = () => {
      if (this.stopped) return;
      void this.record().finally(() => {
        if (!this.stopped) this.timer = this.clock.setTimeout(again, every);
      });
    };
    again();
  }

  /** No more turns (a write in flight finishes); `record()` still works for the last word. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    return this.writing ?? Promise.resolve();
  }

  /** Writes [upSince, now] into its month object(s). Never rejects. */
  async record(): Promise<void> {
    if (this.writing) await this.writing;
    this.writing = this.write().finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  private async write(): Promise<void> {
    const now = this.clock.now();
    const joinGapMs = 2 * (this.o.everyMs ?? 10 * 60_000);
    try {
      for (const span of monthSpans(this.o.upSince, Math.max(now, this.o.upSince + 1))) {
        const key = runningHoursKey(this.o.prefix, this.o.instance, span.month);
        const month = this.months.get(span.month) ?? (await this.load(key, span.month));
        const next = recordRunning(month, span.from, span.to, joinGapMs);
        if (JSON.stringify(next) === JSON.stringify(month) && this.months.has(span.month)) continue;
        await this.o.objects.putText(key, `${JSON.stringify(next)}\n`);
        this.months.set(span.month, next);
      }
      if (this.lastError) this.o.logger.info('running hours recorded again');
      this.lastError = '';
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) this.o.logger.warn({ err: msg }, 'cannot record running hours; will retry');
      this.lastError = msg;
    }
  }

  private async load(key: string, month: string): Promise<RunningMonth> {
    const text = await this.o.objects.getText(key);
    if (text === null) return { month, intervals: [] };
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = null;
    }
    const r = runningMonthSchema.safeParse(raw);
    if (r.success && r.data.month === month) return r.data;
    // Keeping a broken object would stop the recording for the month; its hours are lost either way.
    this.o.logger.warn({ object: key }, 'running hours object malformed: starting it over');
    return { month, intervals: [] };
  }
}
