import { describe, expect, it } from 'vitest';
import { recordRunning, runningHours, runningHoursKey } from '../../../shared/idle/running-hours.ts';

const t = (s: string) => Date.parse(`2026-12-01T${s}:00Z`);

describe('running hours', () => {
  it('joins heartbeats that touch into one interval and starts a new one after a stop', () => {
    let m = { month: '2026-12', intervals: [] as { from: string; to: string }[] };
    m = recordRunning(m, t('08:00'), t('08:05'), 120_000);
    m = recordRunning(m, t('08:06'), t('09:00'), 120_000);
    m = recordRunning(m, t('12:00'), t('13:30'), 120_000);
    expect(m.intervals).toHaveLength(2);
    expect(runningHours(m)).toBeCloseTo(2.5, 5);
  });

  it('counts overlapping intervals once', () => {
    const m = {
      month: '2026-12',
      intervals: [
        { from: '2026-12-01T08:00:00.000Z', to: '2026-12-01T10:00:00.000Z' },
        { from: '2026-12-01T09:00:00.000Z', to: '2026-12-01T11:00:00.000Z' },
      ],
    };
    expect(runningHours(m)).toBeCloseTo(3, 5);
  });

  it('names the month object beside the status snapshot', () => {
    expect(runningHoursKey('status/', 'i-1', '2026-12')).toBe('status/i-1/running/2026-12.json');
  });
});
