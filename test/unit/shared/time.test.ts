import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../shared/time/backoff.ts';
import { systemClock } from '../../../shared/time/clock.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

describe('Backoff', () => {
  it('grows by its factor up to the cap, and draws jitter only from the given random', () => {
    const b = new Backoff({ initialMs: 500, maxMs: 4_000, jitter: 0.5 });
    expect([0, 1, 2, 3, 4, 10].map((n) => b.base(n))).toEqual([500, 1_000, 2_000, 4_000, 4_000, 4_000]);
    expect(b.grow(3_000)).toBe(4_000);
    expect(b.delay(1, () => 0)).toBe(1_000);
    expect(b.delay(1, () => 0.999)).toBe(500);
    let draws = 0;
    const none = new Backoff({ initialMs: 5_000, maxMs: Number.POSITIVE_INFINITY });
    expect(
      none.delay(2, () => {
        draws++;
        return 0.5;
      }),
    ).toBe(20_000);
    expect(draws).toBe(0);
  });

  it('refuses nonsense with a message naming the values', () => {
    expect(() => new Backoff({ initialMs: 10, maxMs: 5 })).toThrow(/invalid backoff/);
    expect(() => new Backoff({ initialMs: 1, maxMs: 5, jitter: 2 })).toThrow(/jitter 2/);
  });
});

describe('systemClock', () => {
  it('sleep ends early, without an error, when its signal aborts', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const slept = systemClock.sleep(10_000, ac.signal);
    setTimeout(() => ac.abort(), 20);
    await slept;
    expect(Date.now() - t0).toBeLessThan(2_000);
    await systemClock.sleep(10_000, ac.signal); // already aborted: at once
  });

  it('fires and clears background timers', async () => {
    let fired = 0;
    systemClock.setTimeout(() => fired++, 1);
    systemClock.clearTimeout(systemClock.setTimeout(() => fired++, 1));
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toBe(1);
  });
});

describe('FakeClock', () => {
  it('moves only when told or slept, firing timers in due order', async () => {
    const c = new FakeClock(1_000);
    const fired: string[] = [];
    c.setTimeout(() => fired.push(`b@${c.now()}`), 200);
    c.setTimeout(() => fired.push(`a@${c.now()}`), 100);
    c.clearTimeout(c.setTimeout(() => fired.push('never'), 50));
    await c.advance(150);
    expect(fired).toEqual(['a@1100']);
    await c.sleep(100);
    expect(fired).toEqual(['a@1100', 'b@1200']);
    expect(c.now()).toBe(1_250);
    expect(c.sleeps).toEqual([100]);
    expect(c.pending()).toBe(0);
  });
});
