import type { StatusSnapshot } from './snapshot.ts';

/**
 * The agent uploads its snapshot at least this often even when nothing
 * changed; readers call a snapshot stale after two intervals.
 */
export const HEARTBEAT_SECONDS = 300;
/** Missed heartbeats after which a snapshot no longer describes the host. */
export const STALE_AFTER_HEARTBEATS = 2;

export type Freshness = { stale: boolean; ageSeconds: number; staleAfterSeconds: number };

/** Pure: how old a snapshot is and whether it is stale (older than two of its own heartbeat intervals). */
export function snapshotFreshness(
  snapshot: Pick<StatusSnapshot, 'generatedAt' | 'heartbeatSeconds'>,
  nowMs: number,
): Freshness {
  const ageSeconds = Math.max(0, Math.round((nowMs - Date.parse(snapshot.generatedAt)) / 1000));
  const staleAfterSeconds = STALE_AFTER_HEARTBEATS * snapshot.heartbeatSeconds;
  return { stale: ageSeconds > staleAfterSeconds, ageSeconds, staleAfterSeconds };
}
