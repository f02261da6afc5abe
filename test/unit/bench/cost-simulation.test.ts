import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  billedHours,
  hoursOf,
  idleStopSpans,
  MONTH_HOURS,
  manualStopSpans,
  merge,
  monthlyCost,
  seededRandom,
  sessions,
  type Workload,
} from '../../../bench/cost-model.ts';
import { costsAt, defaultIdleWindow, prices, WORKLOAD } from '../../../bench/cost-simulation.ts';
import { Raster } from '../../../bench/png-line-chart.ts';

const w = (over: Partial<Workload>): Workload => ({ ...WORKLOAD, usageHoursPerDay: 2, ...over });
const WINDOW = { stopAfterMinutes: 60, bootGraceMinutes: 15 };

describe('cost model arithmetic', () => {
  it('always on = 730 h × price + storage; the Terraform defaults price it', () => {
    const p = prices();
    expect(p).toEqual({ hourlyUsd: 0.1664, storageMonthlyUsd: 80 * 0.08 });
    expect(billedHours('alwaysOn', w({}), WINDOW)).toBe(730);
    expect(costsAt(2, WINDOW, p).alwaysOn).toBe(Math.round((730 * 0.1664 + 6.4) * 100) / 100);
    expect(monthlyCost(10, { hourlyUsd: 0.5, storageMonthlyUsd: 3 })).toBe(8);
  });

  it('nothing used: every strategy but always-on costs storage only', () => {
    const c = costsAt(0, WINDOW, prices());
    expect([c.manualStop, c.idleStop, c.ideal]).toEqual([6.4, 6.4, 6.4]);
  });

  it('used all day: every strategy is always-on', () => {
    const c = costsAt(24, WINDOW, prices());
    expect(new Set([c.alwaysOn, c.manualStop, c.idleStop, c.ideal]).size).toBe(1);
  });

  it('ideal = the used hours: 2 h on each of the 30 whole days plus what fits in the last 10 h', () => {
    const h = billedHours('ideal', w({}), WINDOW);
    expect(h).toBeGreaterThanOrEqual(60);
    expect(h).toBeLessThanOrEqual(62);
    expect(hoursOf(sessions(w({})).map((s) => s.span))).toBe(h);
  });

  it('idle stop: each run is boot + session + window + shutdown when sessions are far apart', () => {
    const spans = idleStopSpans(w({ usageHoursPerDay: 1, sessionsPerDay: 1 }), WINDOW);
    const whole = spans.filter(([a, b]) => a > 0 && b < MONTH_HOURS * 60 - 1);
    expect(whole.length).toBeGreaterThanOrEqual(29);
    for (const [a, b] of whole) expect(b - a).toBeCloseTo(5 + 60 + 60 + 1, 6);
  });

  it('idle stop honours the boot grace for a short session', () => {
    const spans = idleStopSpans(w({ usageHoursPerDay: 5 / 60, sessionsPerDay: 1 }), {
      stopAfterMinutes: 5,
      bootGraceMinutes: 30,
    });
    // Boot 5 min before, stop no earlier than 30 min after the boot, then 1 min to stop.
    expect(spans[0]![1] - spans[0]![0]).toBeCloseTo(31, 6);
  });

  it('idle stop: a session starting before the stop keeps the host up (no second boot)', () => {
    // 2 sessions of 6 h in a 12 h window: back to back, one run a day.
    const spans = idleStopSpans(w({ usageHoursPerDay: 12, sessionsPerDay: 2 }), WINDOW);
    expect(spans.length).toBeLessThanOrEqual(31);
  });

  it('manual stop: always remembered = first boot to last session each day; never = up from the first boot on', () => {
    const diligent = manualStopSpans(w({ downProbabilityWeekday: 1, downProbabilityWeekend: 1 }));
    const days = sessions(w({}));
    expect(diligent[0]![0]).toBeCloseTo(days[0]!.span[0] - 5, 6);
    expect(diligent[0]![1]).toBeCloseTo(days[1]!.span[1] + 1, 6);
    const forgetful = manualStopSpans(w({ downProbabilityWeekday: 0, downProbabilityWeekend: 0 }));
    expect(forgetful).toEqual([[days[0]!.span[0] - 5, MONTH_HOURS * 60]]);
  });

  it('merge counts overlaps once and clips to the month', () => {
    expect(
      merge([
        [10, 20],
        [15, 30],
        [-5, 3],
        [43_790, 50_000],
      ]),
    ).toEqual([
      [0, 3],
      [10, 30],
      [43_790, 43_800],
    ]);
    expect(
      hoursOf([
        [0, 60],
        [30, 120],
      ]),
    ).toBe(2);
  });

  it('is deterministic: same seed, same draws, same costs', () => {
    const a = seededRandom(14);
    const b = seededRandom(14);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
    expect(costsAt(3.5, WINDOW, prices())).toEqual(costsAt(3.5, WINDOW, prices()));
  });

  it('uses the config schema defaults for the idle window', () => {
    expect(defaultIdleWindow()).toEqual({ stopAfterMinutes: 15, bootGraceMinutes: 15 });
  });
});

describe('PNG writer', () => {
  it('writes a valid RGB PNG whose pixels round-trip', () => {
    const r = new Raster(4, 3, [255, 255, 255]);
    r.set(1, 2, [10, 20, 30]);
    const png = r.png();
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).toBe(4);
    expect(png.readUInt32BE(20)).toBe(3);
    const idatLen = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString('ascii')).toBe('IDAT');
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect(raw.length).toBe(3 * (1 + 4 * 3));
    expect([...raw.subarray(2 * 13 + 1 + 3, 2 * 13 + 1 + 6)]).toEqual([10, 20, 30]);
  });

  it('refuses text it has no glyph for instead of drawing nothing', () => {
    expect(() => new Raster(50, 20).text(0, 0, 'a≥b', [0, 0, 0])).toThrow(/no glyph for "≥"/);
  });
});
