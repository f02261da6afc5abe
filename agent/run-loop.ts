import type { Logger } from '../shared/logger.ts';
import type { HostStatus } from '../shared/status/snapshot.ts';
import { Backoff } from '../shared/time/backoff.ts';
import { type Clock, systemClock, type TimerHandle } from '../shared/time/clock.ts';
import { evaluateHealth } from './report/health.ts';
import type { GatewayStatus } from './status/build-snapshot.ts';
import type { EventWatcher } from './supervisor/event-watcher.ts';
import type { Supervisor } from './supervisor/supervisor.ts';

export interface RunLoopDeps {
  supervisor: Supervisor;
  watcher: EventWatcher;
  metrics: { observeReconcile(seconds: number): void };
  notifier: { watchdog(): void; watchdogIntervalMs: number | null };
  hostProbe: { sample(): Promise<HostStatus> };
  probeGateway: (url: string) => Promise<boolean>;
  /** Publishes a fresh snapshot now. */
  publish: () => void;
  gatewayUrl: string;
  dataDir: string;
  reconcileIntervalSeconds: number;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
}

/**
 * The agent's steady state between READY and shutdown: a full reconcile, a
 * gateway probe and a host sample every interval (events make reconciles
 * sooner), the watchdog, and the health rule over it all. It also keeps what
 * the ticks observed (host, gateway) for the snapshot.
 */
export class RunLoop {
  host: HostStatus;
  gateway: GatewayStatus;
  private ticking: Promise<void> | null = null;
  private tickTimer: TimerHandle | null = null;
  private watchdogTimer: TimerHandle | null = null;
  private gatewayTimer: TimerHandle | null = null;
  private gatewayProbe: Promise<void> | null = null;
  private gatewayRetries = 0;
  private stopped = false;
  private readonly clock: Clock;
  private readonly random: () => number;
  /** Re-probes of a gateway that lags behind its healthy services: soon at first, at most once an interval later. */
  private readonly gatewayBackoff: Backoff;

  constructor(private readonly d: RunLoopDeps) {
    this.clock = d.clock ?? systemClock;
    this.random = d.random ?? Math.random;
    this.host = {
      cpuLoadPercent: null,
      memory: null,
      dataVolume: { mountPoint: d.dataDir, mounted: false, device: null, usedPercent: null },
      gpus: [],
    };
    this.gateway = { url: d.gatewayUrl, ok: false, checkedAt: null };
    this.gatewayBackoff = new Backoff({
      initialMs: 250,
      maxMs: Math.max(250, d.reconcileIntervalSeconds * 1000),
      jitter: 0.2,
    });
  }

  /** The /healthz rule (and the watchdog's) over the current state. */
  health(): { ok: boolean; failing: string[] } {
    const w = this.d.watcher.state();
    return evaluateHealth({
      dockerConnected: this.d.supervisor.dockerConnected,
      eventsConnected: w.connected,
      eventsDisconnectedSince: w.disconnectedSince,
      lastReconcileAt: this.d.supervisor.lastReconcileAt,
      reconcileIntervalSeconds: this.d.reconcileIntervalSeconds,
      now: this.clock.now(),
    });
  }

  /** Reconcile, probe the gateway, sample the host, publish; one at a time. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      const t0 = performance.now();
      try {
        await this.d.supervisor.reconcile();
      } catch (err) {
        this.d.logger.warn({ err: (err as Error).message }, 'reconcile failed');
      }
      this.d.metrics.observeReconcile((performance.now() - t0) / 1000);
      const [ok, sample] = await Promise.all([
        this.d.probeGateway(this.d.gatewayUrl),
        this.d.hostProbe.sample().catch(() => null),
      ]);
      this.setGateway(ok);
      if (sample) this.host = sample;
      this.d.publish();
    })().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  /** Ticks every interval and pets the watchdog, until stop(). */
  start(): void {
    const intervalMs = this.d.reconcileIntervalSeconds * 1000;
    const every = (ms: number, fn: () => void, set: (t: TimerHandle) => void) => {
      const again = () => {
        if (this.stopped) return;
        fn();
        set(this.clock.setTimeout(again, ms));
      };
      set(this.clock.setTimeout(again, ms));
    };
    every(
      intervalMs,
      () => void this.tick(),
      (t) => (this.tickTimer = t),
    );
    const wd = this.d.notifier.watchdogIntervalMs;
    if (wd) {
      // Only a loop that would pass /healthz pets the watchdog: a wedged agent gets restarted.
      every(
        wd,
        () => {
          if (this.health().ok) this.d.notifier.watchdog();
        },
        (t) => (this.watchdogTimer = t),
      );
    }
  }

  /**
   * The supervisor's view changed. When every service is up but the gateway
   * was last seen down, the gateway is probed now instead of at the next tick:
   * the stack turns healthy as soon as it is, and the check is the same one.
   */
  onSupervisorChange(): void {
    if (this.stopped || this.gateway.ok || this.gatewayTimer !== null || this.gatewayProbe) return;
    if (!this.servicesUp()) {
      this.gatewayRetries = 0;
      return;
    }
    const delay =
      this.gatewayRetries === 0 ? 0 : this.gatewayBackoff.delay(this.gatewayRetries - 1, this.random);
    this.gatewayTimer = this.clock.setTimeout(() => {
      this.gatewayTimer = null;
      if (this.stopped) return;
      this.gatewayProbe = this.d
        .probeGateway(this.d.gatewayUrl)
        .catch(() => false)
        .then((ok) => {
          if (this.stopped) return;
          this.setGateway(ok);
          this.d.publish();
          this.gatewayRetries = ok ? 0 : this.gatewayRetries + 1;
        })
        .finally(() => {
          this.gatewayProbe = null;
          this.onSupervisorChange();
        });
    }, delay);
  }

  /** Ends the timers at once; the promise settles when a tick or probe in flight has finished. */
  stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.tickTimer, this.watchdogTimer, this.gatewayTimer]) {
      if (t !== null) this.clock.clearTimeout(t);
    }
    this.tickTimer = this.watchdogTimer = this.gatewayTimer = null;
    return Promise.all([this.ticking, this.gatewayProbe]).then(() => {});
  }

  private setGateway(ok: boolean): void {
    this.gateway = { url: this.d.gatewayUrl, ok, checkedAt: new Date(this.clock.now()).toISOString() };
  }

  /** Every service running and healthy (or without a healthcheck), none being acted on. */
  private servicesUp(): boolean {
    const sup = this.d.supervisor;
    if (sup.stopping || !sup.dockerConnected || sup.lastReconcileAt === null) return false;
    const services = sup.services();
    if (services.length === 0) return false;
    const busy = sup.busy();
    return services.every((s) => sup.conditions.get(s) === 'ok' && !busy.has(s));
  }
}
