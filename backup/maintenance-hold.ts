import { mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../bootstrap/atomic-write.ts';
import { type MaintenanceLease, readLease } from '../shared/backup/maintenance-lease.ts';
import { type Clock, systemClock, type TimerHandle } from '../shared/time/clock.ts';

/** Lease time to live: how long the host stays in maintenance after this process stops renewing it. */
export const LEASE_TTL_MS = 2 * 60_000;

/**
 * Puts the host in maintenance for `services` (shared/backup/maintenance-lease.ts):
 * writes the lease (root-only), renews it every third of its time to live while
 * this process works, and removes it on end(). If the process dies the agent
 * sees a dead PID and an expiring lease, and resumes on its own.
 */
export class MaintenanceHold {
  private timer: TimerHandle | null = null;
  private lease: MaintenanceLease;
  private ended = false;

  private constructor(
    private readonly path: string,
    init: Omit<MaintenanceLease, 'since' | 'expiresAt' | 'pid'>,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {
    const now = clock.now();
    this.lease = {
      ...init,
      pid: process.pid,
      since: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlMs).toISOString(),
    };
  }

  static async begin(
    path: string,
    init: Omit<MaintenanceLease, 'since' | 'expiresAt' | 'pid'>,
    opts: { clock?: Clock; ttlMs?: number } = {},
  ): Promise<MaintenanceHold> {
    const hold = new MaintenanceHold(path, init, opts.clock ?? systemClock, opts.ttlMs ?? LEASE_TTL_MS);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await hold.write();
    hold.scheduleRenewal();
    return hold;
  }

  get current(): MaintenanceLease {
    return this.lease;
  }

  /** Ends maintenance: stops renewing and removes the lease, if it is still ours. */
  async end(): Promise<void> {
    this.ended = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const now = readLease(this.path, this.clock.now(), () => true);
    if (now.kind === 'none') return;
    if ((now.kind === 'active' || now.kind === 'ended') && now.lease.pid !== process.pid) return;
    await unlink(this.path).catch(() => {});
  }

  private async write(): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(this.lease)}\n`, { mode: 0o600 });
  }

  private scheduleRenewal(): void {
    this.timer = this.clock.setTimeout(
      () => {
        if (this.ended) return;
        this.lease = { ...this.lease, expiresAt: new Date(this.clock.now() + this.ttlMs).toISOString() };
        void this.write()
          .catch(() => {})
          .finally(() => {
            if (!this.ended) this.scheduleRenewal();
          });
      },
      Math.max(1_000, Math.floor(this.ttlMs / 3)),
    );
  }
}
