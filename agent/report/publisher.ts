import type { Logger } from '../../shared/logger.ts';
import type { StatusSnapshot } from '../../shared/status/snapshot.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';

export interface PublisherDeps {
  /** Builds a fresh snapshot (agent/status/build-snapshot.ts over the agent's parts). */
  build: () => StatusSnapshot;
  metrics: { observeSnapshot(s: StatusSnapshot): void };
  s3: { update(s: StatusSnapshot): void } | null;
  notifier: { status(line: string): void };
  statusLine: (s: StatusSnapshot) => string;
  logger: Logger;
  clock?: Clock;
  /** Bursts of changes within this window are published once. */
  debounceMs?: number;
}

/**
 * Hands every new snapshot to its readers: the HTTP server (current()),
 * Prometheus, S3, systemd's STATUS= line (only when the line changed) and the
 * log (one line per state change).
 */
export class Publisher {
  private snapshot: StatusSnapshot;
  private lastLine = '';
  private lastState = '';
  private timer: TimerHandle | null = null;
  private readonly clock: Clock;

  constructor(private readonly d: PublisherDeps) {
    this.clock = d.clock ?? systemClock;
    this.snapshot = d.build();
  }

  /** The newest snapshot (what GET /status serves). */
  current(): StatusSnapshot {
    return this.snapshot;
  }

  /** Publishes soon; changes until then are coalesced. */
  schedule(): void {
    this.timer ??= this.clock.setTimeout(() => {
      this.timer = null;
      this.publish();
    }, this.d.debounceMs ?? 100);
  }

  /** Builds and publishes a snapshot now (a scheduled one is folded into it). */
  publish(): StatusSnapshot {
    this.cancel();
    const s = this.d.build();
    this.snapshot = s;
    this.d.metrics.observeSnapshot(s);
    this.d.s3?.update(s);
    const line = this.d.statusLine(s);
    if (line !== this.lastLine) {
      this.lastLine = line;
      this.d.notifier.status(line);
    }
    if (s.state !== this.lastState) {
      this.d.logger.info({ state: s.state, from: this.lastState || null, line }, `stack is ${s.state}`);
      this.lastState = s.state;
    }
    return s;
  }

  /** Drops a scheduled publish. */
  cancel(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
