import { type RunningMonth, runningHours } from '../shared/idle/running-hours.ts';
import { INSTANCE_HOURLY_USD, PRICE_BASIS, type VolumeSpec, volumeMonthlyUsd } from './pricing.ts';

/**
 * `dalston-aws cost`: a month's cost from the running hours the agent records
 * (shared/idle/running-hours.ts), next to what the same month costs always on.
 * Pure arithmetic; the command does the reading.
 */

export interface CostLine {
  runningHours: number;
  computeUsd: number | null;
  storageUsd: number | null;
  totalUsd: number | null;
}

export interface MonthCostReport {
  estimate: true;
  basis: string;
  month: string;
  instanceType: string;
  hourlyUsd: number | null;
  /** Calendar hours of the month (720, 744, …), not the 730 h convention: this is one real month. */
  hoursInMonth: number;
  /** Hours of the month already past at the time of the estimate. */
  elapsedHours: number;
  /** EBS for the whole month: billed whether the instance runs or not (the stopped baseline). */
  storageMonthlyUsd: number | null;
  /** What has accrued up to now: running hours × price + storage for the elapsed part. */
  soFar: CostLine;
  /** The whole month if the rest of it runs like the part already past. */
  projected: CostLine;
  /** The same month with the instance never stopped. */
  alwaysOn: CostLine;
  assumptions: string[];
}

const cents = (n: number) => Math.round(n * 100) / 100;
const hoursRounded = (n: number) => Math.round(n * 100) / 100;

/** [start, end) of a `YYYY-MM` month in epoch ms (UTC). */
export function monthBounds(month: string): { start: number; end: number } {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return { start: Date.UTC(y, m - 1, 1), end: Date.UTC(y, m, 1) };
}

export interface MonthCostInputs {
  month: string;
  nowMs: number;
  instanceType: string;
  volumes: readonly VolumeSpec[];
  /** The agent's record for the month, null when there is none. */
  running: RunningMonth | null;
  /** Set while the instance runs: its last start, so time the agent has not written yet still counts. */
  runningSince: number | null;
}

export function estimateMonthCost(i: MonthCostInputs): MonthCostReport {
  const { start, end } = monthBounds(i.month);
  const hoursInMonth = (end - start) / 3_600_000;
  const now = Math.min(Math.max(i.nowMs, start), end);
  const elapsedHours = (now - start) / 3_600_000;
  const assumptions = [
    `${PRICE_BASIS} for the instance and EBS; S3, snapshots, data transfer and public IPv4 are not included`,
    'EBS is billed for the whole month whether the instance runs or not',
  ];

  const intervals = [...(i.running?.intervals ?? [])];
  if (i.running === null) assumptions.push(`no running-hours record for ${i.month}: counted as not running`);
  if (i.runningSince !== null && i.runningSince < now) {
    // The agent rewrites its record every few minutes; the current run counts up to now.
    intervals.push({
      from: new Date(Math.max(i.runningSince, start)).toISOString(),
      to: new Date(now).toISOString(),
    });
    assumptions.push('the current run counts up to now');
  }
  // Clipped to the month: a record never bills another month's hours.
  const clipped = intervals
    .map((x) => ({ from: Math.max(Date.parse(x.from), start), to: Math.min(Date.parse(x.to), now) }))
    .filter((x) => x.to > x.from)
    .map((x) => ({ from: new Date(x.from).toISOString(), to: new Date(x.to).toISOString() }));
  const hours = runningHours({ month: i.month, intervals: clipped });

  const hourly = INSTANCE_HOURLY_USD[i.instanceType] ?? null;
  if (hourly === null) assumptions.push(`${i.instanceType} is not in the price table: compute unknown`);
  const perVolume = i.volumes.map(volumeMonthlyUsd);
  const storage = perVolume.some((v) => v === null)
    ? null
    : perVolume.reduce<number>((a, v) => a + (v ?? 0), 0);
  if (storage === null) assumptions.push('a volume type is not in the price table: storage unknown');

  const line = (runHours: number, storageShare: number): CostLine => {
    const compute = hourly === null ? null : hourly * runHours;
    const st = storage === null ? null : storage * storageShare;
    return {
      runningHours: hoursRounded(runHours),
      computeUsd: compute === null ? null : cents(compute),
      storageUsd: st === null ? null : cents(st),
      totalUsd: compute === null || st === null ? null : cents(compute + st),
    };
  };
  const fraction = elapsedHours / hoursInMonth;
  const projectedHours = elapsedHours > 0 ? (hours / elapsedHours) * hoursInMonth : 0;
  if (fraction < 1)
    assumptions.push('the projection assumes the rest of the month runs like the part already past');
  return {
    estimate: true,
    basis: PRICE_BASIS,
    month: i.month,
    instanceType: i.instanceType,
    hourlyUsd: hourly,
    hoursInMonth,
    elapsedHours: hoursRounded(elapsedHours),
    storageMonthlyUsd: storage === null ? null : cents(storage),
    soFar: line(hours, fraction),
    projected: line(projectedHours, 1),
    alwaysOn: line(hoursInMonth, 1),
    assumptions,
  };
}
