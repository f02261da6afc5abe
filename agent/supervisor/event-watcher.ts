import type { DockerClient, DockerEvent, EventSubscription } from '../../shared/engine/docker/types.ts';
import type { Logger } from '../../shared/logger.ts';

export interface EventWatcherOptions {
  client: DockerClient;
  project: string;
  logger: Logger;
  onEvent: (e: DockerEvent) => void;
  /** After every reconnect: events may have been lost (the daemon keeps 256, none across a restart). */
  onReconnected: () => void;
  onStateChange?: (connected: boolean) => void;
  now?: () => number;
  random?: () => number;
  minDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Keeps one subscription to the project's container events alive: on end or
 * error it reconnects with jittered backoff, asking for events `since` the
 * last one seen, and then asks for a reconcile.
 */
export class EventWatcher {
  connected = false;
  /** When the stream was lost (ms); null while connected. */
  disconnectedSince: number | null = null;
  lastEventAt: number | null = null;
  reconnects = 0;
  private lastTimeNano: bigint | undefined;
  private sub: EventSubscription | null = null;
  private stopped = false;
  private wakeSleep: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly o: EventWatcherOptions) {}

  /** Connects once (throws if Docker refuses), then keeps the stream alive in the background. */
  async start(): Promise<void> {
    await this.connect();
    this.loop = this.keepAlive();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sub?.close();
    this.wakeSleep?.();
    await this.loop;
  }

  private get now(): number {
    return (this.o.now ?? Date.now)();
  }

  private async connect(): Promise<void> {
    this.sub = await this.o.client.subscribe(this.o.project, {
      since: this.lastTimeNano,
      onEvent: (e) => {
        this.lastTimeNano = e.timeNano;
        this.lastEventAt = this.now;
        this.o.onEvent(e);
      },
    });
    this.setConnected(true);
  }

  private setConnected(v: boolean): void {
    if (this.connected === v) return;
    this.connected = v;
    this.disconnectedSince = v ? null : this.now;
    this.o.onStateChange?.(v);
  }

  private async keepAlive(): Promise<void> {
    const min = this.o.minDelayMs ?? 500;
    const max = this.o.maxDelayMs ?? 30_000;
    const random = this.o.random ?? Math.random;
    let delay = min;
    while (!this.stopped) {
      const { error } = await this.sub!.done;
      if (this.stopped) break;
      this.setConnected(false);
      this.o.logger.warn({ err: error?.message }, 'docker event stream lost; reconnecting');
      while (!this.stopped) {
        // Full jitter between half and all of the delay.
        await this.sleep(Math.round(delay * (0.5 + random() / 2)));
        if (this.stopped) return;
        try {
          await this.connect();
          this.reconnects += 1;
          delay = min;
          this.o.logger.info({ reconnects: this.reconnects }, 'docker event stream reconnected');
          this.o.onReconnected();
          break;
        } catch (err) {
          delay = Math.min(delay * 2, max);
          this.o.logger.warn(
            { err: (err as Error).message, retryInMs: delay },
            'docker event stream reconnect failed',
          );
        }
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeSleep = done;
    });
  }
}
