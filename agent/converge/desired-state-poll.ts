/**
 * The agent's poll of the desired state: every `agent.desiredStatePollSeconds`
 * one conditional read with the last ETag seen (an unchanged object costs one
 * request answered 304, no download). On a change it starts `dalston-host
 * sync` (`agent.syncCommand`) unless a sync is already running, and never while
 * a backup or restore holds the host (they would race the change's own backup
 * and maintenance lease); the ETag is remembered only once a sync was started,
 * so a change seen while one could not be is picked up at the next poll.
 * A restarted agent knows no ETag; an object whose version the last finished
 * sync already worked towards (the convergence record) starts no sync again —
 * otherwise every agent restart, including the one a release step makes, would
 * run one more sync that can only find nothing to do.
 */
import { type DesiredStateStore, readDesiredState } from '../../shared/desired/desired-state-source.ts';
import type { Logger } from '../../shared/logger.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';

export interface DesiredStatePollOptions {
  store: DesiredStateStore;
  intervalSeconds: number;
  /** Starts sync (returns once it has been started, not finished). */
  startSync: () => Promise<void>;
  /** A sync holds its lock right now. */
  syncRunning: () => Promise<boolean>;
  /** Why a sync must not start now (a backup or restore holds the host), or null. */
  held: () => Promise<string | null>;
  logger: Logger;
  /**
   * The desired-state version (S3 VersionId, else ETag) the last finished sync worked towards, or null
   * (none, or a step still in progress): the convergence record's, through `settledDesiredVersion`.
   */
  lastSynced?: () => Promise<string | null>;
  clock?: Clock;
}

export type PollOutcome =
  | 'unchanged'
  | 'already-synced'
  | 'sync-started'
  | 'sync-running'
  | 'held'
  | 'unreadable'
  | 'start-failed';

export class DesiredStatePoll {
  private etag: string | null = null;
  private timer: TimerHandle | null = null;
  private stopped = false;
  private readonly clock: Clock;
  private inFlight: Promise<PollOutcome> | null = null;

  constructor(private readonly o: DesiredStatePollOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** One poll (concurrent calls share it). */
  poll(): Promise<PollOutcome> {
    this.inFlight ??= this.pollOnce().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async pollOnce(): Promise<PollOutcome> {
    const { logger } = this.o;
    const why = await this.o.held();
    if (why) {
      logger.debug({ why }, 'desired state not checked: the host is held');
      return 'held';
    }
    const read = await readDesiredState(this.o.store, this.etag);
    if (read.kind === 'unchanged') return 'unchanged';
    if (read.kind === 'missing' || read.kind === 'unreachable') {
      const reason = read.kind === 'missing' ? `no object at ${read.where}` : read.reason;
      logger.warn({ reason }, `desired state not read: ${reason}`);
      return 'unreadable';
    }
    // ok or invalid: either way sync records what it finds (an invalid object as its problem).
    const version = read.versionId ?? read.etag;
    if (this.o.lastSynced && (await this.o.lastSynced()) === version) {
      logger.debug({ version }, 'desired state already synced');
      this.etag = read.etag;
      return 'already-synced';
    }
    if (await this.o.syncRunning()) {
      logger.info('desired state changed; a sync is running, checking again at the next poll');
      return 'sync-running';
    }
    try {
      await this.o.startSync();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'desired state changed but sync could not be started');
      return 'start-failed';
    }
    logger.info({ etag: read.etag }, 'desired state changed: sync started');
    this.etag = read.etag;
    return 'sync-started';
  }

  start(): void {
    if (this.o.intervalSeconds <= 0) return;
    const again = () => {
      if (this.stopped) return;
      void this.poll()
        .catch((err: unknown) =>
          this.o.logger.error({ err: (err as Error).message }, 'desired state poll failed'),
        )
        .finally(() => {
          if (!this.stopped) this.timer = this.clock.setTimeout(again, this.o.intervalSeconds * 1000);
        });
    };
    again();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => {});
  }
}
