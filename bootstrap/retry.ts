import type { Clock } from './context.ts';

/** Runs `fn` up to `attempts` times, doubling the delay (package mirrors and dpkg locks are flaky at first boot). */
export async function withRetry<T>(
  clock: Clock,
  fn: (attempt: number) => Promise<T>,
  opts: { attempts?: number; initialMs?: number; onRetry?: (err: unknown, attempt: number) => void } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 4;
  let delay = opts.initialMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts) throw err;
      opts.onRetry?.(err, attempt);
      await clock.sleep(delay);
      delay *= 2;
    }
  }
}
