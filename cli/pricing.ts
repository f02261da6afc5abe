/**
 * A small, hand-kept price table for the cost line of `dalston-aws status`.
 *
 * These are ESTIMATES: AWS list prices for Linux on-demand instances and EBS
 * volumes in us-east-1 (N. Virginia), USD, as published in 2025. Other regions
 * usually cost 5–25% more; savings plans, spot, taxes, data transfer, S3, public
 * IPv4 addresses and snapshots are not included. A month is 730 hours (AWS's own
 * convention). Update the numbers here when AWS changes them.
 */

export const PRICE_BASIS = 'us-east-1 on-demand list prices, 730 h/month';
export const HOURS_PER_MONTH = 730;

/** EC2 on-demand, USD per hour. */
export const INSTANCE_HOURLY_USD: Readonly<Record<string, number>> = {
  't3.medium': 0.0416,
  't3.large': 0.0832,
  't3.xlarge': 0.1664,
  't3.2xlarge': 0.3328,
  'm6i.large': 0.096,
  'm6i.xlarge': 0.192,
  'm6i.2xlarge': 0.384,
  'c6i.xlarge': 0.17,
  'c6i.2xlarge': 0.34,
  'g4dn.xlarge': 0.526,
  'g4dn.2xlarge': 0.752,
  'g5.xlarge': 1.006,
  'g5.2xlarge': 1.212,
  'g6.xlarge': 0.8048,
};

/** EBS storage, USD per GB-month. */
export const EBS_GB_MONTH_USD: Readonly<Record<string, number>> = {
  gp3: 0.08,
  gp2: 0.1,
  io1: 0.125,
  io2: 0.125,
  st1: 0.045,
  sc1: 0.015,
  standard: 0.05,
};

/** gp3 includes 3000 IOPS and 125 MB/s; more is billed per month. */
export const GP3_FREE_IOPS = 3000;
export const GP3_FREE_THROUGHPUT_MBPS = 125;
export const GP3_IOPS_MONTH_USD = 0.005;
export const GP3_THROUGHPUT_MBPS_MONTH_USD = 0.04;

export interface VolumeSpec {
  id: string;
  sizeGiB: number;
  type: string;
  iops?: number | undefined;
  throughputMBps?: number | undefined;
}

export interface CostEstimate {
  estimate: true;
  basis: string;
  currency: 'USD';
  instanceType: string;
  /** Null when the instance type is not in the table. */
  hourlyUsd: number | null;
  /** Compute plus storage while running all month; null when the type is unknown. */
  monthlyRunningUsd: number | null;
  /** Storage only: what a stopped instance still costs. Null when a volume's type is unknown. */
  monthlyStoppedUsd: number | null;
  volumes: Array<VolumeSpec & { monthlyUsd: number | null }>;
  notes: string[];
}

const cents = (n: number) => Math.round(n * 100) / 100;

export function volumeMonthlyUsd(v: VolumeSpec): number | null {
  const perGb = EBS_GB_MONTH_USD[v.type];
  if (perGb === undefined) return null;
  let total = v.sizeGiB * perGb;
  if (v.type === 'gp3') {
    total += Math.max(0, (v.iops ?? GP3_FREE_IOPS) - GP3_FREE_IOPS) * GP3_IOPS_MONTH_USD;
    total +=
      Math.max(0, (v.throughputMBps ?? GP3_FREE_THROUGHPUT_MBPS) - GP3_FREE_THROUGHPUT_MBPS) *
      GP3_THROUGHPUT_MBPS_MONTH_USD;
  }
  return total;
}

export function estimateMonthlyCost(
  instanceType: string,
  volumes: readonly VolumeSpec[],
  region?: string,
): CostEstimate {
  const notes: string[] = [];
  const hourly = INSTANCE_HOURLY_USD[instanceType] ?? null;
  if (hourly === null) notes.push(`${instanceType} is not in the price table`);
  const priced = volumes.map((v) => {
    const m = volumeMonthlyUsd(v);
    if (m === null) notes.push(`volume type ${v.type} (${v.id}) is not in the price table`);
    return { ...v, monthlyUsd: m === null ? null : cents(m) };
  });
  const storageKnown = priced.every((v) => v.monthlyUsd !== null);
  const storage = priced.reduce((sum, v) => sum + (v.monthlyUsd ?? 0), 0);
  if (region && region !== 'us-east-1') notes.push(`prices are for us-east-1; ${region} may cost more`);
  return {
    estimate: true,
    basis: PRICE_BASIS,
    currency: 'USD',
    instanceType,
    hourlyUsd: hourly,
    monthlyRunningUsd: hourly === null || !storageKnown ? null : cents(hourly * HOURS_PER_MONTH + storage),
    monthlyStoppedUsd: storageKnown ? cents(storage) : null,
    volumes: priced,
    notes,
  };
}
