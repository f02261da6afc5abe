import { describe, expect, it } from 'vitest';
import { withRetry } from '../../../bootstrap/retry.ts';
import { Backoff } from '../../../shared/time/backoff.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

describe('withRetry', () => {
  it('waits 5 s, 10 s, 20 s between four attempts, then gives up with the last error', async () => {
    const clock = new FakeClock();
    const retried: number[] = [];
    let calls = 0;
    const err = await withRetry(
      clock,
      async (attempt) => {
        calls++;
        throw new Error(`attempt ${attempt} failed`);
      },
      { onRetry: (_e, attempt) => retried.push(attempt) },
    ).catch((e: Error) => e);
    expect((err as Error).message).toBe('attempt 4 failed');
    expect(calls).toBe(4);
    expect(clock.sleeps).toEqual([5_000, 10_000, 20_000]);
    expect(retried).toEqual([1, 2, 3]);
  });

  it('returns the first success and takes another backoff', async () => {
    const clock = new FakeClock();
    const backoff = new Backoff({ initialMs: 100, maxMs: 150, jitter: 0.5 });
    const v = await withRetry(clock, async (a) => (a < 3 ? Promise.reject(new Error('no')) : 'ok'), {
      backoff,
      random: () => 0,
    });
    expect(v).toBe('ok');
    expect(clock.sleeps).toEqual([100, 150]);
  });
});
