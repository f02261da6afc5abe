import type { DockerClient, DockerEvent, EventSubscription } from '../../shared/engine/docker/types.ts';
import type { Logger } from '../../shared/logger.ts';
import { Backoff } from '../../shared/time/backoff.ts';
import { type Clock, systemClock } from '../../shared/time/clock.ts';

export interface EventWatcherOptions {
  client: DockerClient;
  project: string;
  logger: Logger;
  onEvent: (e: DockerEvent) => void;
  /** After every reconnect: events may have been lost (the daemon keeps 256, none across a restart). */
  onReconnected: () => void;
  onStateChange?: (connected: boolean) => void;
  clock?: Clock;
  random?: () => number;
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** The event stream's state as plain data (for the status snapshot and /healthz). */
export interface EventWatcherState {
  connected: boolean;
  /** When the stream was lost (ms); null while connected. */
  disconnectedSince: number | null;
  lastEventAt: number | null;
  reconnects: number;
}

/**
 * Keeps one subscription to the project's container events alive: on end or
 * error it reconnects with jittered backoff, asking for events `since` the
 * last one seen, and then asks for a reconcile.
 */
export class EventWatcher {
  private s: EventWatcherState = {
    connected: false,
    disconnectedSince: null,
    lastEventAt: null,
    reconnects: 0,
  };
  private lastTimeNano: bigint | undefined;
  private sub: EventSubscription | null = null;
  private readonly stopped = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly clock: Clock;
  /** Full jitter between half and all of the delay, so hosts do not reconnect in lockstep. */
  private readonly backoff: Backoff;

  constructor(private readonly o: EventWatcherOptions) {
    this.clock = o.clock ?? systemClock;
    this.backoff = new Backoff({
      initialMs: o.minDelayMs ?? 500,
      maxMs: o.maxDelayMs ?? 30_000,
      jitter: 0.5,
    });
  }

  get connected(): boolean {
    return this.s.connected;
  }
  get disconnectedSince(): number | null {
    return this.s.disconnectedSince;
  }
  get lastEventAt(): number | null {
    return this.s.lastEventAt;
  }
  get reconnects(): number {
    return this.s.reconnects;
  }

  state(): EventWatcherState {
    return { ...this.s };
  }

  /** Connects once (throws if Docker refuses), then keeps the stream alive in the background. */
  async start(): Promise<void> {
    await this.connect();
    this.loop = this.keepAlive();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    this.sub?.close();
    await this.loop;
  }

  private async connect(): Promise<void> {
    this.sub = await this.o.client.subscribe(this.o.project, {
      since: this.lastTimeNano,
      onEvent: (e) => {
        this.lastTimeNano = e.timeNano;
        this.s.lastEventAt = this.clock.now();
        this.o.onEvent(e);
      },
    });
    this.setConnected(true);
  }

  private setConnected(v: boolean): void {
    if (this.s.connected === v) return;
    this.s.connected = v;
    this.s.disconnectedSince = v ? null : this.clock.now();
    this.o.onStateChange?.(v);
  }

  private async keepAlive(): Promise<void> {
    const random = this.o.random ?? Math.random;
    const stopped = this.stopped.signal;
    let attempt = 0;
    while (!stopped.aborted) {
      const { error } = await this.sub!.done;
      if (stopped.aborted) break;
      this.setConnected(false);
      this.o.logger.warn({ err: error?.message }, 'docker event stream lost; reconnecting');
      while (!stopped.aborted) {
        await this.clock.sleep(this.backoff.delay(attempt, random), stopped);
        if (stopped.aborted) return;
        try {
          await this.connect();
          this.s.reconnects += 1;
          attempt = 0;
          this.o.logger.info({ reconnects: this.s.reconnects }, 'docker event stream reconnected');
          this.o.onReconnected();
          break;
        } catch (err) {
          attempt += 1;
          this.o.logger.warn(
            { err: (err as Error).message, retryInMs: this.backoff.base(attempt) },
            'docker event stream reconnect failed',
          );
        }
      }
    }
  }
}
