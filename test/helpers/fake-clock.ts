import type { Clock, TimerHandle } from '../../shared/time/clock.ts';

/**
 * The one fake Clock for unit tests. Time moves only when the test calls
 * advance() or the code under test sleeps (a sleep moves time forward at once
 * and is recorded in `sleeps`). Timers fire in due order as time passes them,
 * with pending promise callbacks drained between timers.
 */
export class FakeClock implements Clock {
  /** The current time (epoch ms); tests may read or set it. */
  t: number;
  /** Every sleep the code under test asked for, in order. */
  readonly sleeps: number[] = [];
  private seq = 0;
  private readonly timers = new Map<number, { due: number; fn: () => void }>();

  constructor(start = 0) {
    this.t = start;
  }

  /** An arrow, so `clock.now` can be handed over on its own. */
  now = (): number => this.t;

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (signal?.aborted) return;
    await this.advance(ms);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { due: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Timers set and not yet fired or cleared. */
  pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      let next: [number, { due: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].due <= end && (!next || e[1].due < next[1].due)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].due);
      next[1].fn();
      await settle();
    }
    this.t = Math.max(this.t, end);
  }
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}
