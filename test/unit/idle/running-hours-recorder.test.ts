import { describe, expect, it } from 'vitest';
import { monthSpans, RunningHoursRecorder } from '../../../agent/idle/running-hours-recorder.ts';
import type { SmallObjects } from '../../../agent/idle/small-objects.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { memoryLogger } from '../agent/fakes.ts';

class MemoryObjects implements SmallObjects {
  readonly data = new Map<string, string>();
  failing = false;
  async getText(key: string) {
    if (this.failing) throw new Error('S3 down');
    return this.data.get(key) ?? null;
  }
  async putText(key: string, body: string) {
    if (this.failing) throw new Error('S3 down');
    this.data.set(key, body);
  }
}

const at = (s: string) => Date.parse(s);
const month = (o: MemoryObjects, m: string) =>
  JSON.parse(o.data.get(`status/i-1/running/${m}.json`) ?? 'null');

describe('running hours', () => {
  it('monthSpans cuts a run at each UTC month end', () => {
    expect(monthSpans(at('2026-11-30T23:00:00Z'), at('2026-12-01T01:00:00Z'))).toEqual([
      { month: '2026-11', from: at('2026-11-30T23:00:00Z'), to: at('2026-12-01T00:00:00Z') },
      { month: '2026-12', from: at('2026-12-01T00:00:00Z'), to: at('2026-12-01T01:00:00Z') },
    ]);
    expect(monthSpans(at('2026-12-31T23:00:00Z'), at('2027-01-01T00:30:00Z')).map((s) => s.month)).toEqual([
      '2026-12',
      '2027-01',
    ]);
  });

  it('extends this run’s interval every turn, keeps earlier runs, and splits across the month end', async () => {
    const objects = new MemoryObjects();
    objects.data.set(
      'status/i-1/running/2026-11.json',
      JSON.stringify({
        month: '2026-11',
        intervals: [{ from: '2026-11-02T08:00:00.000Z', to: '2026-11-02T10:00:00.000Z' }],
      }),
    );
    const clock = new FakeClock(at('2026-11-30T23:40:00Z'));
    const r = new RunningHoursRecorder({
      objects,
      prefix: 'status/',
      instance: 'i-1',
      upSince: clock.now(),
      logger: memoryLogger().logger,
      clock,
      everyMs: 10 * 60_000,
    });
    r.start();
    await clock.advance(10 * 60_000);
    expect(month(objects, '2026-11').intervals).toEqual([
      { from: '2026-11-02T08:00:00.000Z', to: '2026-11-02T10:00:00.000Z' },
      { from: '2026-11-30T23:40:00.000Z', to: '2026-11-30T23:50:00.000Z' },
    ]);
    await clock.advance(30 * 60_000);
    await r.stop();
    await r.record();
    expect(month(objects, '2026-11').intervals.at(-1)).toEqual({
      from: '2026-11-30T23:40:00.000Z',
      to: '2026-12-01T00:00:00.000Z',
    });
    expect(month(objects, '2026-12')).toEqual({
      month: '2026-12',
      intervals: [{ from: '2026-12-01T00:00:00.000Z', to: '2026-12-01T00:20:00.000Z' }],
    });
  });

  it('an S3 outage is logged once and caught up at the next turn', async () => {
    const objects = new MemoryObjects();
    objects.failing = true;
    const clock = new FakeClock(at('2026-12-05T10:00:00Z'));
    const { logger, lines } = memoryLogger();
    const r = new RunningHoursRecorder({
      objects,
      prefix: 'status/',
      instance: 'i-1',
      upSince: clock.now(),
      logger,
      clock,
    });
    r.start();
    await clock.advance(20 * 60_000);
    expect(lines.filter((l) => l.msg === 'cannot record running hours; will retry')).toHaveLength(1);
    objects.failing = false;
    await clock.advance(10 * 60_000);
    await r.stop();
    expect(month(objects, '2026-12').intervals).toEqual([
      { from: '2026-12-05T10:00:00.000Z', to: '2026-12-05T10:30:00.000Z' },
    ]);
  });
});
