import type { BackupStatus } from '../status/snapshot.ts';
import { BACKUP_OVERDUE_HOURS } from './backup-object.ts';

/**
 * Pure: what the operator should make of a snapshot's backup block, the same
 * for `dalston-host status` and `dalston-aws status`:
 *   failed   the last run failed (whatever came before)
 *   overdue  the last success is older than BACKUP_OVERDUE_HOURS (a night missed)
 *   none     no backup has succeeded on this host yet
 *   unknown  the agent could not read the state file (`problem`)
 *   ok       otherwise
 */
export type BackupVerdict = 'ok' | 'failed' | 'overdue' | 'none' | 'unknown';

export interface BackupSummary {
  verdict: BackupVerdict;
  lastSuccessAt: string | null;
  /** Age of the last success at `now`, seconds. */
  ageSeconds: number | null;
  sizeBytes: number | null;
  key: string | null;
  alembicRevision: string | null;
  /** The last run, when it failed. */
  failure: { at: string; error: string } | null;
  consecutiveFailures: number;
  problem: string | null;
}

/** Null when the snapshot comes from an agent that does not report backups. */
export function summarizeBackup(b: BackupStatus | null | undefined, nowMs: number): BackupSummary | null {
  if (b === undefined) return null;
  const ok = b?.lastSuccess ?? null;
  const age = ok ? Math.max(0, Math.round((nowMs - Date.parse(ok.at)) / 1000)) : null;
  const failed = b?.lastRun?.result === 'failure' ? b.lastRun : null;
  const verdict: BackupVerdict = b?.problem
    ? 'unknown'
    : failed
      ? 'failed'
      : ok === null
        ? 'none'
        : (age ?? 0) > BACKUP_OVERDUE_HOURS * 3600
          ? 'overdue'
          : 'ok';
  return {
    verdict,
    lastSuccessAt: ok?.at ?? null,
    ageSeconds: age,
    sizeBytes: ok?.sizeBytes ?? null,
    key: ok?.key ?? null,
    alembicRevision: ok?.alembicRevision ?? null,
    failure: failed ? { at: failed.finishedAt, error: failed.error ?? 'unknown error' } : null,
    consecutiveFailures: b?.consecutiveFailures ?? 0,
    problem: b?.problem ?? null,
  };
}
