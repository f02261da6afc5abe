/**
 * Time as every program sees it: the agent, the bootstrap and the operator CLI
 * take a Clock, so tests drive time with the fake in test/helpers/fake-clock.ts
 * instead of waiting. Times are epoch milliseconds.
 */
export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  /** Waits `ms`; resolves early (never rejects) when `signal` aborts. Keeps the process alive while waiting. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A background timer: it does not keep the process alive on its own (unref'd in the real clock). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
  },
  // unref: a pending background timer (upload throttle, wake-up) must not hold the process at exit.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
