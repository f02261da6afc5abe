import os from 'node:os';
import { UsageError } from '../shared/errors.ts';
import { type KeepAwakeLease, keepAwakeKey, keepAwakeLeaseSchema } from '../shared/idle/keep-awake.ts';
import type { ObjectReader } from './aws/snapshots.ts';

/**
 * The laptop side of the keep-awake lease (shared/idle/keep-awake.ts): `up --for 4h` and
 * `keep-awake 2h` write `<statusPrefix><instance>/keep-awake.json`, `keep-awake --clear`
 * removes it. The agent reads it before deciding the host is idle.
 */

/** Longer than this is almost certainly a typo; turning idle stop off is the honest way. */
export const MAX_LEASE_MS = 7 * 24 * 3_600_000;

/**
 * Strict lease durations: hours and/or minutes, `30m`, `4h`, `1h30m`. No bare numbers (is
 * `2` hours or minutes?), no seconds, no zero.
 */
export function parseLeaseDuration(text: string, flag: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?$/.exec(text.trim());
  const ms =
    m && (m[1] !== undefined || m[2] !== undefined)
      ? (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60_000
      : null;
  if (ms === null) {
    throw new UsageError(
      `${flag} "${text}" is not a duration: use hours and/or minutes, e.g. 30m, 4h, 1h30m`,
    );
  }
  if (ms <= 0) throw new UsageError(`${flag} "${text}" is zero: a lease must last at least a minute`);
  if (ms > MAX_LEASE_MS) {
    throw new UsageError(
      `${flag} "${text}" is longer than 7 days: to keep the host up for good, set idle_stop_after_minutes = 0 in Terraform`,
    );
  }
  return ms;
}

/** Who is asking, for the lease's `by` and the record of a `down`: `alice@laptop`. */
export function operatorName(env: NodeJS.ProcessEnv): string {
  const user = env.USER || env.LOGNAME || env.USERNAME || 'someone';
  return `${user}@${os.hostname()}`;
}

export function buildLease(nowMs: number, durationMs: number, by: string): KeepAwakeLease {
  return keepAwakeLeaseSchema.parse({
    until: new Date(nowMs + durationMs).toISOString(),
    by,
    createdAt: new Date(nowMs).toISOString(),
  });
}

export interface LeaseTarget {
  bucket: string;
  statusPrefix: string;
  instanceId: string;
}

export async function writeLease(
  objects: ObjectReader,
  t: LeaseTarget,
  lease: KeepAwakeLease,
): Promise<string> {
  const key = keepAwakeKey(t.statusPrefix, t.instanceId);
  await objects.putText(t.bucket, key, `${JSON.stringify(lease)}\n`);
  return key;
}

export async function clearLease(objects: ObjectReader, t: LeaseTarget): Promise<string> {
  const key = keepAwakeKey(t.statusPrefix, t.instanceId);
  await objects.delete(t.bucket, key);
  return key;
}
