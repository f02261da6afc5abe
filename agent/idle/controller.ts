import type { IdleStatus } from '../../shared/idle/idle-status.ts';
import type { KeepAwakeLease } from '../../shared/idle/keep-awake.ts';
import type { Logger } from '../../shared/logger.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';
import {
  decideIdle,
  describeIdle,
  FRESH_IDLE_MEMORY,
  type Hold,
  type IdleDecision,
  type IdleMemory,
  type IdleSettings,
} from './policy.ts';
import type { IdleSignalSource } from './redis-signals.ts';
import type { SignalReading } from './signals.ts';

/** What holds the host up besides Dalston's own work, read fresh every poll. */
export interface IdleHolds {
  holds: Hold[];
  /** The keep-awake lease in force (for the snapshot), or null. */
  lease: KeepAwakeLease | null;
}

export interface IdleControllerDeps {
  settings: IdleSettings;
  pollSeconds: number;
  /** Each source with the name its reading carries when it cannot answer in time. */
  sources: { name: string; source: IdleSignalSource }[];
  /** `signalsIdle`: every signal read idle, so what else holds the host up matters now. */
  holds: (signalsIdle: boolean) => Promise<IdleHolds>;
  /** When the host came up (epoch ms): the boot grace counts from it. */
  bootedAt: number;
  logger: Logger;
  clock?: Clock;
  /** A source that has not answered by then reads unreadable (its late answer is dropped). */
  sourceTimeoutMs?: number;
  /** The decision changed what the snapshot says. */
  onChange: () => void;
  /** A stop was announced just now: the heartbeat should go out at once. */
  onAnnounce: () => void;
  /** Stop the host (stack, final heartbeat, power-off). Called at most once. */
  onStop: (detail: string) => void;
}

/**
 * The idle policy (policy.ts) at work: every `pollSeconds` it reads every
 * signal source and the holds, asks decideIdle, keeps the policy's memory and
 * acts on the decision — publish, announce, stop. It runs on its own timer and
 * never inside the run loop's tick: a slow Redis or psql delays only the next
 * idle poll, never a reconcile or a heal.
 */
export class IdleController {
  private memory: IdleMemory = FRESH_IDLE_MEMORY;
  private decision: IdleDecision | null = null;
  private checkedAt: number | null = null;
  private lease: KeepAwakeLease | null = null;
  private stopRequested = false;
  private timer: TimerHandle | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;
  private lastUnreadable = '';
  private readonly clock: Clock;

  constructor(private readonly d: IdleControllerDeps) {
    this.clock = d.clock ?? systemClock;
  }

  get enabled(): boolean {
    return this.d.settings.stopAfterMinutes > 0;
  }

  /** The snapshot's `idle` field. */
  status(): IdleStatus {
    const now = this.clock.now();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const base = { lease: this.lease, checkedAt: iso(this.checkedAt) };
    const d = this.decision;
    if (!this.enabled || d?.kind === 'disabled')
      return { state: 'disabled', summary: 'idle stop off', since: null, stopAt: null, reasons: [], ...base };
    if (d === null)
      return {
        state: 'busy',
        summary: 'not checked yet',
        since: null,
        stopAt: null,
        reasons: ['not checked yet'],
        ...base,
      };
    switch (d.kind) {
      case 'busy':
        return {
          state: 'busy',
          summary: describeIdle(d, now),
          since: null,
          stopAt: null,
          reasons: d.reasons,
          ...base,
        };
      case 'idle':
        return {
          state: 'idle',
          summary: describeIdle(d, now),
          since: iso(d.since),
          stopAt: iso(d.stopAt),
          reasons: d.heldBy,
          ...base,
        };
      case 'announce':
        return {
          state: 'announce',
          summary: describeIdle(d, now),
          since: iso(d.since),
          stopAt: iso(d.stopAt),
          reasons: [],
          ...base,
        };
      default:
        return {
          state: 'stopping',
          summary: describeIdle(d, now),
          since: iso(d.since),
          stopAt: null,
          reasons: [],
          ...base,
        };
    }
  }

  /** Polls now, then every pollSeconds until stop(). Nothing happens when idle stop is off. */
  start(): void {
    if (!this.enabled) return;
    const again = () => {
      if (this.stopped) return;
      void this.poll().finally(() => {
        if (!this.stopped && !this.stopRequested)
          this.timer = this.clock.setTimeout(again, this.d.pollSeconds * 1000);
      });
    };
    again();
  }

  /** No more polls; settles when one in flight has finished. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    return this.polling ?? Promise.resolve();
  }

  /** One poll: read, decide, act. One at a time; never rejects. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce()
      .catch((err: unknown) => {
        // A bug here must not stop the agent; the next poll tries again, and nothing stops meanwhile.
        this.d.logger.error({ err: (err as Error).message }, 'idle poll failed');
      })
      .finally(() => {
        this.polling = null;
      });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const timeoutMs = this.d.sourceTimeoutMs ?? 15_000;
    const readings = (
      await Promise.all(this.d.sources.map((s) => readWithin(s.name, s.source, timeoutMs)))
    ).flat();
    const holds = await this.d.holds(readings.length > 0 && readings.every((r) => r.state === 'idle'));
    if (this.stopped || this.stopRequested) return;
    const now = this.clock.now();
    const before = this.decision;
    const { decision, memory } = decideIdle(
      { now, bootedAt: this.d.bootedAt, signals: readings, holds: holds.holds },
      this.memory,
      this.d.settings,
    );
    this.memory = memory;
    this.decision = decision;
    this.checkedAt = now;
    this.lease = holds.lease;
    this.report(readings, before, decision, now);
    this.d.onChange();
    if (decision.kind === 'announce' && before?.kind !== 'announce') this.d.onAnnounce();
    if (decision.kind === 'stop') {
      this.stopRequested = true;
      const minutes = Math.round((now - decision.since) / 60_000);
      this.d.onStop(`idle since ${new Date(decision.since).toISOString()} (${minutes} min)`);
    }
  }

  private report(readings: SignalReading[], before: IdleDecision | null, d: IdleDecision, now: number): void {
    const log = this.d.logger;
    const unreadable = readings.filter((r) => r.state === 'unreadable');
    const key = unreadable.map((r) => `${r.name}: ${r.detail}`).join('; ');
    if (key !== this.lastUnreadable) {
      if (unreadable.length > 0)
        log.warn(
          { unreadable: unreadable.map((r) => ({ name: r.name, detail: r.detail })) },
          `idle signal unreadable (counts as busy): ${key}`,
        );
      else if (this.lastUnreadable) log.info('idle signals readable again');
      this.lastUnreadable = key;
    }
    const summary = describeIdle(d, now);
    if (d.kind === 'busy' && d.cancelledStop) {
      log.warn({ reasons: d.reasons }, `stop cancelled: ${d.reasons.join('; ')}`);
    } else if (d.kind === 'announce' && before?.kind !== 'announce') {
      log.warn({ since: new Date(d.since).toISOString(), stopAt: new Date(d.stopAt).toISOString() }, summary);
    } else if (d.kind === 'stop') {
      log.warn({ since: new Date(d.since).toISOString() }, `${summary}: stopping the host`);
    } else if (d.kind !== before?.kind) {
      log.info({ idle: d.kind, ...(d.kind === 'busy' ? { reasons: d.reasons } : {}) }, summary);
    }
  }
}

/** A source's readings, or one unreadable reading when it fails or takes longer than `ms`. */
async function readWithin(name: string, source: IdleSignalSource, ms: number): Promise<SignalReading[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<SignalReading[]>((resolve) => {
    timer = setTimeout(
      () => resolve([{ name, state: 'unreadable', detail: `no answer within ${ms} ms` }]),
      ms,
    );
  });
  try {
    return await Promise.race([
      source
        .read()
        .catch((err: unknown) => [{ name, state: 'unreadable' as const, detail: (err as Error).message }]),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
