import { type FSWatcher, watch } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { readBackupState } from '../../shared/backup/backup-state.ts';
import { type MaintenanceLease, readLease } from '../../shared/backup/maintenance-lease.ts';
import type { Logger } from '../../shared/logger.ts';
import { pidAlive } from '../../shared/process-alive.ts';
import type { BackupStatus } from '../../shared/status/snapshot.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';

export interface BackupWatchOptions {
  /** backup.stateFile: written by `dalston-host backup` (shared/backup/backup-state.ts). */
  stateFile: string;
  /** The maintenance lease (shared/backup/maintenance-lease.ts), written by `dalston-host restore`. */
  leaseFile: string;
  logger: Logger;
  clock?: Clock;
  /** How often the state file is read again without a change notice. */
  refreshMs?: number;
  alive?: (pid: number) => boolean;
}

/**
 * What the agent knows of backups and maintenance, for its snapshot and its
 * decisions. The backup runs as its own process (dalston-backup.service) and
 * records its outcome in the state file; a restore writes the maintenance
 * lease. Both files are read here: the state file on a change notice (inotify
 * on its directory) and every `refreshMs`; the lease afresh on every call,
 * because the supervisor asks right before each action.
 */
export class BackupWatch {
  private status: BackupStatus | null = null;
  private readonly clock: Clock;
  private readonly alive: (pid: number) => boolean;
  private watchers: FSWatcher[] = [];
  private timer: TimerHandle | null = null;
  private lastLease = '';
  private stopped = false;

  constructor(private readonly o: BackupWatchOptions) {
    this.clock = o.clock ?? systemClock;
    this.alive = o.alive ?? pidAlive;
  }

  /** The last backups as last read (null: no backup has run on this host). */
  backup(): BackupStatus | null {
    return this.status;
  }

  /** The lease in force right now, or null. */
  lease(): MaintenanceLease | null {
    const r = readLease(this.o.leaseFile, this.clock.now(), this.alive);
    const seen = r.kind === 'active' ? `active:${r.lease.pid}:${r.lease.reason}` : r.kind;
    if (seen !== this.lastLease) {
      this.lastLease = seen;
      if (r.kind === 'active') {
        this.o.logger.warn(
          {
            maintenance: r.lease.reason,
            services: r.lease.services,
            holder: r.lease.holder,
            pid: r.lease.pid,
          },
          `maintenance: holding ${r.lease.services.join(', ')} (${r.lease.reason})`,
        );
      } else if (r.kind === 'ended') {
        this.o.logger.warn({ why: r.why }, `maintenance lease ignored: ${r.why}`);
      } else if (r.kind === 'malformed') {
        this.o.logger.warn({ reason: r.reason }, `maintenance lease ignored: ${r.reason}`);
      }
    }
    return r.kind === 'active' ? r.lease : null;
  }

  /** The services held for maintenance right now (for the supervisor). */
  held(): ReadonlySet<string> {
    return new Set(this.lease()?.services ?? []);
  }

  /** Reads the state file now; true when what it says changed. */
  async refresh(): Promise<boolean> {
    const r = await readBackupState(this.o.stateFile);
    const before = JSON.stringify(this.status);
    if (r.kind === 'missing') this.status = null;
    else if (r.kind === 'ok') this.status = { ...r.state, problem: null };
    else
      this.status = {
        lastRun: null,
        lastSuccess: null,
        failuresTotal: 0,
        consecutiveFailures: 0,
        problem: `${this.o.stateFile}: ${r.reason}`,
      };
    return JSON.stringify(this.status) !== before;
  }

  /**
   * First read, then change notices (`onChange` after every re-read) and the
   * periodic refresh. A directory that cannot be watched only loses promptness.
   */
  async start(onChange: () => void): Promise<void> {
    await this.refresh();
    // Both directories are created so they can be watched from the start: the lease's is on
    // tmpfs, and the state file's does not exist before the first backup (a directory that
    // does not exist cannot be watched, and the change would wait for the periodic refresh).
    await mkdir(dirname(this.o.leaseFile), { recursive: true, mode: 0o700 }).catch(() => {});
    await mkdir(dirname(this.o.stateFile), { recursive: true, mode: 0o755 }).catch(() => {});
    const stateChanged = () =>
      void this.refresh().then(
        (changed) => changed && onChange(),
        () => {},
      );
    const watched = [
      { dir: dirname(this.o.stateFile), name: basename(this.o.stateFile), on: stateChanged },
      // The lease is read afresh by whoever asks; a notice only makes the agent ask now.
      { dir: dirname(this.o.leaseFile), name: basename(this.o.leaseFile), on: onChange },
    ];
    for (const w of watched) {
      try {
        const fw = watch(w.dir, { persistent: false }, (_event, file) => {
          // Atomic writes rename a temp file over the target: the notice may name either.
          if (this.stopped || (file !== null && !file.includes(w.name))) return;
          w.on();
        });
        fw.on('error', () => fw.close());
        this.watchers.push(fw);
      } catch (err) {
        this.o.logger.debug({ dir: w.dir, err: (err as Error).message }, 'not watching for backup changes');
      }
    }
    const every = this.o.refreshMs ?? 30_000;
    const again = () => {
      if (this.stopped) return;
      stateChanged();
      this.timer = this.clock.setTimeout(again, every);
    };
    this.timer = this.clock.setTimeout(again, every);
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
