import { Backoff } from '../shared/time/backoff.ts';
import type { Clock } from '../shared/time/clock.ts';

/** 5 s, 10 s, 20 s…: package mirrors and dpkg locks are flaky at first boot. */
export const BOOTSTRAP_BACKOFF = new Backoff({ initialMs: 5000, maxMs: Number.POSITIVE_INFINITY });

/** Runs `fn` up to `attempts` times, waiting `backoff`'s delays (no jitter by default) between tries. */
export async function withRetry<T>(
  clock: Clock,
  fn: (attempt: number) => Promise<T>,
  opts: {
    attempts?: number;
    backoff?: Backoff;
    random?: () => number;
    onRetry?: (err: unknown, attempt: number) => void;
    /** False ends the retries at once (an error that fails the same way every time). */
    retryIf?: (err: unknown) => boolean;
  } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 4;
  const backoff = opts.backoff ?? BOOTSTRAP_BACKOFF;
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || (opts.retryIf && !opts.retryIf(err))) throw err;
      opts.onRetry?.(err, attempt);
      await clock.sleep(backoff.delay(attempt - 1, random));
    }
  }
}
