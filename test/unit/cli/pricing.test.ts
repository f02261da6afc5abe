import { describe, expect, it } from 'vitest';
import { estimateMonthlyCost, HOURS_PER_MONTH, volumeMonthlyUsd } from '../../../cli/pricing.ts';

describe('price table', () => {
  it('running = hourly × 730 h + storage; stopped = storage only', () => {
    const c = estimateMonthlyCost(
      't3.xlarge',
      [
        { id: 'vol-root', sizeGiB: 30, type: 'gp3' },
        { id: 'vol-data', sizeGiB: 100, type: 'gp3' },
      ],
      'us-east-1',
    );
    // 0.1664 × 730 = 121.472; (30 + 100) × 0.08 = 10.40
    expect(c.hourlyUsd).toBe(0.1664);
    expect(c.monthlyStoppedUsd).toBe(10.4);
    expect(c.monthlyRunningUsd).toBe(131.87);
    expect(c.estimate).toBe(true);
    expect(c.basis).toMatch(/us-east-1/);
    expect(c.notes).toEqual([]);
    expect(HOURS_PER_MONTH).toBe(730);
  });

  it('bills gp3 IOPS and throughput above the included baseline', () => {
    // 100 × 0.08 + (4000 − 3000) × 0.005 + (250 − 125) × 0.04 = 8 + 5 + 5
    expect(
      volumeMonthlyUsd({ id: 'v', sizeGiB: 100, type: 'gp3', iops: 4000, throughputMBps: 250 }),
    ).toBeCloseTo(18);
    expect(volumeMonthlyUsd({ id: 'v', sizeGiB: 100, type: 'gp2' })).toBeCloseTo(10);
  });

  it('says what it does not know instead of inventing a number', () => {
    const c = estimateMonthlyCost('x9.huge', [{ id: 'vol-1', sizeGiB: 10, type: 'mystery' }], 'eu-west-2');
    expect(c.hourlyUsd).toBeNull();
    expect(c.monthlyRunningUsd).toBeNull();
    expect(c.monthlyStoppedUsd).toBeNull();
    expect(c.notes).toEqual([
      'x9.huge is not in the price table',
      'volume type mystery (vol-1) is not in the price table',
      'prices are for us-east-1; eu-west-2 may cost more',
    ]);
  });

  it('g4dn.xlarge with a 200 GiB gp3 data volume', () => {
    const c = estimateMonthlyCost('g4dn.xlarge', [{ id: 'vol-d', sizeGiB: 200, type: 'gp3' }]);
    // 0.526 × 730 = 383.98; 200 × 0.08 = 16
    expect(c.monthlyRunningUsd).toBe(399.98);
    expect(c.monthlyStoppedUsd).toBe(16);
  });
});
