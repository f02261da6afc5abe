import type { HostConfig } from '../shared/config/schema.ts';
import { ComposeError } from '../shared/engine/compose-cli.ts';
import type { DockerClient } from '../shared/engine/docker/types.ts';
import { HostError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { HEARTBEAT_SECONDS } from '../shared/status/heartbeat.ts';
import type { HostStatus, StatusSnapshot } from '../shared/status/snapshot.ts';
import { type MountProbe, preflight } from './preflight.ts';
import { evaluateHealth } from './report/health.ts';
import { EventWatcher } from './supervisor/event-watcher.ts';
import { jittered, policyFromConfig } from './supervisor/policy.ts';
import { stackState } from './supervisor/stack-state.ts';
import { type ComposeActions, Supervisor } from './supervisor/supervisor.ts';

/** The reporting side, as the run loop uses it (implemented under agent/report/). */
export interface Reporting {
  startServer(opts: {
    listen: string;
    allowPublicListen: boolean;
    getStatus: () => StatusSnapshot;
    getHealth: () => { ok: boolean; failing: string[] };
  }): Promise<{ address: string; close(): Promise<void> }>;
  metrics: {
    observeSnapshot(s: StatusSnapshot): void;
    incAgentAction(service: string, action: string): void;
    incEventReconnect(): void;
    observeReconcile(seconds: number): void;
  };
  notifier: {
    ready(): void;
    status(line: string): void;
    watchdog(): void;
    stopping(): void;
    /** Resolves once every message sent so far has been handed to systemd. */
    flush(): Promise<void>;
    watchdogIntervalMs: number | null;
  };
  hostProbe: { start(): Promise<void>; sample(): Promise<HostStatus> };
  s3: {
    update(s: StatusSnapshot): void;
    flush(timeoutMs: number): Promise<void>;
    stop(): void;
    state(): { lastUploadAt: string | null; lastError: string | null };
  } | null;
  statusLine(s: StatusSnapshot): string;
  probeGateway(url: string): Promise<boolean>;
}

export interface AgentDeps {
  config: HostConfig;
  logger: Logger;
  docker: DockerClient;
  compose: ComposeActions & { version(): Promise<string> };
  mounts: MountProbe;
  reporting: Reporting;
  instance: string;
  version: string;
  /** Aborted on SIGTERM/SIGINT. */
  shutdown: AbortSignal;
  now?: () => number;
}

/**
 * The agent's life: preflight → HTTP → subscribe → list → reconcile →
 * compose up → READY=1; then events plus a periodic reconcile until the
 * shutdown signal; then STOPPING=1 and a graceful, dependents-first stop.
 */
export async function runAgent(deps: AgentDeps): Promise<number> {
  const { config, logger, reporting: rep } = deps;
  const now = deps.now ?? Date.now;
  const intervalMs = config.agent.reconcileIntervalSeconds * 1000;

  const pre = await preflight({
    docker: deps.docker,
    compose: deps.compose,
    dataDir: config.dataDir,
    requireDataMount: config.agent.requireDataMount,
    composeMinVersion: config.docker.composeMinVersion,
    mounts: deps.mounts,
    logger,
  });
  await rep.hostProbe.start();

  let publishTimer: NodeJS.Timeout | null = null;
  const sup = new Supervisor({
    docker: deps.docker,
    compose: deps.compose,
    project: config.compose.project,
    services: config.compose.services,
    policy: policyFromConfig(config.agent),
    logger,
    now,
    onAction: (service, action) => rep.metrics.incAgentAction(service, action),
    onChange: () => schedulePublish(),
  });
  function schedulePublish(): void {
    publishTimer ??= setTimeout(() => {
      publishTimer = null;
      publish();
    }, 100);
  }

  let host: HostStatus = {
    cpuLoadPercent: null,
    memory: null,
    dataVolume: { mountPoint: config.dataDir, mounted: false, device: null, usedPercent: null },
    gpus: [],
  };
  const gateway = { url: config.agent.gatewayUrl, ok: false, checkedAt: null as string | null };
  let reconciled = false;
  let snapshot: StatusSnapshot;
  let lastLine = '';
  let lastState = '';

  const watcher = new EventWatcher({
    client: deps.docker,
    project: config.compose.project,
    logger,
    now,
    onEvent: (e) => sup.handleEvent(e),
    onReconnected: () => {
      rep.metrics.incEventReconnect();
      void tick();
    },
    onStateChange: () => schedulePublish(),
  });

  const health = () =>
    evaluateHealth({
      dockerConnected: sup.dockerConnected,
      eventsConnected: watcher.connected,
      eventsDisconnectedSince: watcher.disconnectedSince,
      lastReconcileAt: sup.lastReconcileAt,
      reconcileIntervalSeconds: config.agent.reconcileIntervalSeconds,
      now: now(),
    });

  const build = (): StatusSnapshot => {
    const services = sup.serviceStatuses();
    return {
      state: stackState({
        stopping: sup.stopping,
        reconciled,
        bringUpFailing: sup.bringUpFailing,
        dockerConnected: sup.dockerConnected,
        conditions: sup.conditions,
        services: services.map((s) => s.name),
        circuitOpen: sup.circuitOpen(),
        busy: sup.busy(),
        gatewayOk: gateway.ok,
      }),
      project: config.compose.project,
      version: deps.version,
      generatedAt: new Date(now()).toISOString(),
      instance: deps.instance,
      heartbeatSeconds: HEARTBEAT_SECONDS,
      services,
      host,
      docker: {
        connected: sup.dockerConnected,
        apiVersion: pre.engine.apiVersion,
        eventsConnected: watcher.connected,
        lastEventAt: watcher.lastEventAt === null ? null : new Date(watcher.lastEventAt).toISOString(),
      },
      gateway: { ...gateway },
      s3: rep.s3?.state() ?? { lastUploadAt: null, lastError: null },
    };
  };

  function publish(): void {
    snapshot = build();
    rep.metrics.observeSnapshot(snapshot);
    rep.s3?.update(snapshot);
    const line = rep.statusLine(snapshot);
    if (line !== lastLine) {
      lastLine = line;
      rep.notifier.status(line);
    }
    if (snapshot.state !== lastState) {
      logger.info({ state: snapshot.state, from: lastState || null, line }, `stack is ${snapshot.state}`);
      lastState = snapshot.state;
    }
  }
  snapshot = build();

  let ticking: Promise<void> | null = null;
  function tick(): Promise<void> {
    ticking ??= (async () => {
      const t0 = performance.now();
      try {
        await sup.reconcile();
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'reconcile failed');
      }
      rep.metrics.observeReconcile((performance.now() - t0) / 1000);
      const [ok, sample] = await Promise.all([
        rep.probeGateway(config.agent.gatewayUrl),
        rep.hostProbe.sample().catch(() => null),
      ]);
      gateway.ok = ok;
      gateway.checkedAt = new Date(now()).toISOString();
      if (sample) host = sample;
      publish();
    })().finally(() => {
      ticking = null;
    });
    return ticking;
  }

  const server = await rep.startServer({
    listen: config.agent.listen,
    allowPublicListen: config.agent.allowPublicListen,
    getStatus: () => snapshot,
    getHealth: health,
  });

  const timers: NodeJS.Timeout[] = [];
  let bringUpLoop: Promise<void> | null = null;
  // A signal during a long first `compose up` (image pulls) cancels it instead of waiting for it.
  const cancelActions = () => sup.queue.close();
  deps.shutdown.addEventListener('abort', cancelActions, { once: true });
  try {
    try {
      await watcher.start();
    } catch (err) {
      throw new HostError('unavailable', `cannot subscribe to Docker events: ${(err as Error).message}`, {
        cause: err,
      });
    }
    await sup.reconcile();
    reconciled = true;
    if (!deps.shutdown.aborted) {
      try {
        await sup.bringUp();
        logger.info({ services: config.compose.services }, 'compose up done');
      } catch (err) {
        if (!deps.shutdown.aborted) {
          logComposeFailure(logger, err);
          bringUpLoop = retryBringUp(sup, config, logger, deps.shutdown);
        }
      }
    }
    await tick();
    rep.notifier.ready();
    logger.info({ address: server.address, state: snapshot.state }, 'agent ready');

    timers.push(setInterval(() => void tick(), intervalMs));
    const wd = rep.notifier.watchdogIntervalMs;
    if (wd) {
      // Only a loop that would pass /healthz pets the watchdog: a wedged agent gets restarted.
      timers.push(
        setInterval(() => {
          if (health().ok) rep.notifier.watchdog();
        }, wd),
      );
    }
    await new Promise<void>((resolve) => {
      if (deps.shutdown.aborted) return resolve();
      deps.shutdown.addEventListener('abort', () => resolve(), { once: true });
    });
  } catch (err) {
    // Failed before running: leave nothing open that would keep the process alive.
    sup.stopping = true;
    sup.queue.close();
    await watcher.stop();
    rep.s3?.stop();
    await server.close();
    throw err;
  } finally {
    for (const t of timers) clearInterval(t);
    deps.shutdown.removeEventListener('abort', cancelActions);
  }

  // Shutdown.
  logger.info('shutting down: stopping the stack');
  rep.notifier.stopping();
  sup.stopping = true;
  if (publishTimer) clearTimeout(publishTimer);
  publish();
  await watcher.stop();
  let code = 0;
  try {
    await sup.shutdown(config.agent.stopGraceSeconds);
    logger.info('stack stopped');
  } catch (err) {
    logComposeFailure(logger, err);
    code = 1;
  }
  await bringUpLoop;
  await ticking;
  if (rep.s3) {
    publish();
    await rep.s3.flush(5_000).catch(() => {});
    rep.s3.stop();
  }
  await server.close();
  // STOPPING=1 and the last STATUS= line must reach systemd before the process exits.
  await rep.notifier.flush();
  return code;
}

function logComposeFailure(logger: Logger, err: unknown): void {
  if (err instanceof ComposeError) {
    const lines = err.stderr.trim().split('\n');
    logger.error(
      { exitCode: err.exitCode, args: err.args.join(' '), stderr: lines.slice(-20).join('\n') },
      `docker compose failed (exit ${err.exitCode}): ${lines.at(-1) ?? ''}`,
    );
  } else {
    logger.error({ err: (err as Error).message }, 'compose failed');
  }
}

/** compose up failed: retry with backoff while the agent stays up and reports degraded. */
async function retryBringUp(sup: Supervisor, config: HostConfig, logger: Logger, shutdown: AbortSignal) {
  const b = config.agent.backoff;
  let delay = b.initialSeconds * 1000;
  while (!shutdown.aborted && !sup.bringUpDone) {
    const wait = jittered(delay, 0.2, Math.random);
    logger.info({ retryInSeconds: Math.round(wait / 1000) }, 'retrying compose up');
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait);
      shutdown.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
    if (shutdown.aborted) return;
    try {
      await sup.bringUp();
      logger.info('compose up done');
    } catch (err) {
      if (shutdown.aborted) return;
      logComposeFailure(logger, err);
      delay = Math.min(delay * 2, b.maxSeconds * 1000);
    }
  }
}
