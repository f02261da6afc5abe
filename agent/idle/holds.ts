import { readLockOwner } from '../../backup/lock.ts';
import type { MaintenanceLease } from '../../shared/backup/maintenance-lease.ts';
import { judgeKeepAwake, type KeepAwakeLease, keepAwakeKey } from '../../shared/idle/keep-awake.ts';
import type { Logger } from '../../shared/logger.ts';
import { pidAlive } from '../../shared/process-alive.ts';
import type { IdleHolds } from './controller.ts';
import type { Hold } from './policy.ts';
import type { SmallObjects } from './small-objects.ts';

/**
 * The keep-awake lease (`dalston-aws up --for` / `keep-awake`), read from S3
 * every poll. When S3 cannot be read, the last lease read stays in force: an
 * outage must not end a lease the operator set (nor invent one).
 */
export class KeepAwakeReader {
  private lastLease: KeepAwakeLease | null = null;
  private lastProblem = '';
  readonly key: string;

  constructor(
    private readonly objects: SmallObjects,
    prefix: string,
    instance: string,
    private readonly logger: Logger,
  ) {
    this.key = keepAwakeKey(prefix, instance);
  }

  /** The lease last read, if still in force at `now` (no S3 call). */
  last(now: number): KeepAwakeLease | null {
    return this.lastLease && Date.parse(this.lastLease.until) > now ? this.lastLease : null;
  }

  /** The lease in force at `now`, or null. Never rejects. */
  async read(now: number): Promise<KeepAwakeLease | null> {
    let problem = '';
    try {
      const r = judgeKeepAwake(await this.objects.getText(this.key), now);
      if (r.kind === 'malformed') problem = `keep-awake lease ${this.key} ignored: ${r.reason}`;
      this.lastLease = r.kind === 'active' ? r.lease : null;
    } catch (err) {
      problem = `keep-awake lease ${this.key} unreadable, keeping the last one read: ${(err as Error).message}`;
    }
    if (problem !== this.lastProblem) {
      if (problem) this.logger.warn({ object: this.key }, problem);
      this.lastProblem = problem;
    }
    return this.last(now);
  }
}

export interface HoldSources {
  /** The maintenance lease in force (a restore), from the backup watch. */
  maintenance: () => MaintenanceLease | null;
  /** `<backup.runDir>/backup.lock`: held by a running backup or restore. */
  backupLockFile: string;
  /** `<backup.runDir>/sync.lock`: held by `dalston-host sync` while it converges the host. */
  syncLockFile?: string;
  /** Services the supervisor is acting on (a heal or the bring-up). */
  acting: () => ReadonlySet<string>;
  keepAwake: KeepAwakeReader | null;
  now: () => number;
  alive?: (pid: number) => boolean;
}

/** Everything that holds the host up besides Dalston's own work, read now. */
export function readHolds(s: HoldSources): (signalsIdle: boolean) => Promise<IdleHolds> {
  const alive = s.alive ?? pidAlive;
  return async (signalsIdle) => {
    const now = s.now();
    const holds: Hold[] = [];
    const m = s.maintenance();
    if (m) holds.push({ kind: 'maintenance', detail: `maintenance: ${m.reason}` });
    for (const file of [s.backupLockFile, ...(s.syncLockFile ? [s.syncLockFile] : [])]) {
      const owner = await readLockOwner(file);
      if (owner && alive(owner.pid))
        holds.push({
          kind: 'maintenance',
          detail: `${owner.what} running (pid ${owner.pid}, since ${owner.since})`,
        });
    }
    const acting = [...s.acting()].sort();
    if (acting.length > 0)
      holds.push({ kind: 'maintenance', detail: `agent acting on ${acting.join(', ')}` });
    // The lease only matters while everything else is idle: S3 is asked then, not every busy poll.
    const lease = s.keepAwake ? (signalsIdle ? await s.keepAwake.read(now) : s.keepAwake.last(now)) : null;
    if (lease)
      holds.push({
        kind: 'lease',
        detail: `keep-awake until ${lease.until} (${lease.by})`,
        until: Date.parse(lease.until),
      });
    return { holds, lease };
  };
}
