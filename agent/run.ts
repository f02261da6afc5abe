import type { MaintenanceLease } from '../shared/backup/maintenance-lease.ts';
import { lockFile } from '../shared/backup/maintenance-lease.ts';
import type { HostConfig } from '../shared/config/schema.ts';
import { syncLockFile } from '../shared/desired/convergence-record.ts';
import type { ConvergenceStatus } from '../shared/desired/convergence-status.ts';
import type { DockerClient } from '../shared/engine/docker/types.ts';
import { HostError } from '../shared/errors.ts';
import type { Shutdown } from '../shared/idle/idle-status.ts';
import { componentLogger, type Logger } from '../shared/logger.ts';
import type { VolumeRefusal } from '../shared/mount/volume-refusal.ts';
import type { BackupStatus, HostStatus, StatusSnapshot } from '../shared/status/snapshot.ts';
import { type Clock, systemClock } from '../shared/time/clock.ts';
import { type DataGuard, systemDataGuard } from './data-guard.ts';
import { IdleController } from './idle/controller.ts';
import { KeepAwakeReader, readHolds } from './idle/holds.ts';
import type { IdleSignalSource } from './idle/redis-signals.ts';
import { RunningHoursRecorder } from './idle/running-hours-recorder.ts';
import type { SmallObjects } from './idle/small-objects.ts';
import { type MountProbe, preflight } from './preflight.ts';
import { Publisher } from './report/publisher.ts';
import { RunLoop } from './run-loop.ts';
import { buildSnapshot } from './status/build-snapshot.ts';
import { EventWatcher } from './supervisor/event-watcher.ts';
import { HealMemoryStore, type MemoryStore } from './supervisor/heal-memory-store.ts';
import { policyFromConfig } from './supervisor/policy.ts';
import { type ComposeActions, logComposeFailure, Supervisor } from './supervisor/supervisor.ts';

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

/** Backups and maintenance as the agent sees them (agent/status/backup-watch.ts). */
export interface BackupView {
  start(onChange: () => void): Promise<void>;
  stop(): void;
  backup(): BackupStatus | null;
  lease(): MaintenanceLease | null;
  held(): ReadonlySet<string>;
}

export interface AgentDeps {
  config: HostConfig;
  /** The root logger; each component logs through a child with its `component`. */
  logger: Logger;
  docker: DockerClient;
  compose: ComposeActions & { version(): Promise<string> };
  mounts: MountProbe;
  /** The bootstrap's refusal of the data volume (shared/mount/volume-refusal.ts); by default read from /run. */
  volumeRefusal?: () => Promise<VolumeRefusal | null>;
  /** The data guard's IO; by default the host's /proc through `mounts`. */
  dataGuard?: DataGuard;
  /** Where the healing memory is kept; by default a file under agent.stateDir. */
  memoryStore?: MemoryStore;
  reporting: Reporting;
  instance: string;
  version: string;
  /** Aborted on SIGTERM/SIGINT. */
  shutdown: AbortSignal;
  clock?: Clock;
  random?: () => number;
  /** Absent: no backup state or maintenance lease is read (tests of other parts). */
  backups?: BackupView;
  /** Idle stop's IO; absent: no idle controller (tests of other parts). */
  idle?: IdleDeps;
  /**
   * Called on the shutdown signal: a handover (shared/desired/agent-handover.ts) left by
   * `dalston-host sync` means exit and leave the stack running; null means stop it. Absent: always stop.
   */
  takeHandover?: () => Promise<{ reason: string } | null>;
  /** Desired vs running and the last convergence step (the sync record); absent: not reported. */
  convergence?: ConvergenceView;
  /** The poll of the desired state (agent/converge/desired-state-poll.ts); absent: off. */
  desiredPoll?: { start(): void; stop(): Promise<void> };
}

/** The convergence record as the agent sees it (agent/status/convergence-watch.ts). */
export interface ConvergenceView {
  start(onChange: () => void): Promise<void>;
  stop(): void;
  status(): ConvergenceStatus;
}

/** What idle stop reads and does outside the agent (agent/idle/). */
export interface IdleDeps {
  /** Dalston's work signals (Redis, Postgres), each with a name for when it does not answer. */
  sources: { name: string; source: IdleSignalSource }[];
  /** S3 objects beside the status snapshot (keep-awake lease, running hours); null without S3. */
  objects: SmallObjects | null;
  /** Powers the host off (`idle.powerOffCommand` through the shell seam); called once, after the final heartbeat. */
  powerOff: () => Promise<void>;
}

/**
 * The agent's life: preflight → HTTP → subscribe → reconcile → compose up →
 * READY=1 → the run loop until the shutdown signal → STOPPING=1 and a
 * graceful, dependents-first stop.
 */
export async function runAgent(deps: AgentDeps): Promise<number> {
  const { config, reporting: rep } = deps;
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const logger = componentLogger(deps.logger, 'agent');
  // The agent starts at boot, so its start stands for the host's: the boot grace and the running
  // hours count from it (an agent restart only lengthens the grace, which errs on staying up).
  const startedAt = clock.now();

  const pre = await preflight({
    docker: deps.docker,
    compose: deps.compose,
    dataDir: config.dataDir,
    requireDataMount: config.agent.requireDataMount,
    composeMinVersion: config.docker.composeMinVersion,
    mounts: deps.mounts,
    ...(deps.volumeRefusal ? { volumeRefusal: deps.volumeRefusal } : {}),
    logger: componentLogger(deps.logger, 'preflight'),
  });
  // The host probe's first reading takes most of a second (systeminformation warms up); only the
  // first tick needs it, so it runs beside the bring-up instead of delaying it.
  const hostProbeStarted = rep.hostProbe.start().catch(() => {});

  const policy = policyFromConfig(config.agent);
  const supLog = componentLogger(deps.logger, 'supervisor');
  const sup: Supervisor = new Supervisor({
    docker: deps.docker,
    compose: deps.compose,
    project: config.compose.project,
    services: config.compose.services,
    policy,
    logger: supLog,
    clock,
    random,
    // Without requireDataMount the operator runs without a data volume: nothing to guard.
    dataGuard: config.agent.requireDataMount
      ? (deps.dataGuard ?? systemDataGuard(config.dataDir, deps.mounts))
      : null,
    stopGraceSeconds: config.agent.stopGraceSeconds,
    memoryStore:
      deps.memoryStore ??
      new HealMemoryStore({
        dir: config.agent.stateDir,
        project: config.compose.project,
        policy,
        logger: supLog,
        clock,
      }),
    onAction: (service, action) => rep.metrics.incAgentAction(service, action),
    ...(deps.backups ? { held: () => deps.backups!.held() } : {}),
    onChange: () => {
      publisher.schedule();
      loop.onSupervisorChange();
    },
  });
  const watcher: EventWatcher = new EventWatcher({
    client: deps.docker,
    project: config.compose.project,
    logger: componentLogger(deps.logger, 'events'),
    clock,
    random,
    onEvent: (e) => sup.handleEvent(e),
    onReconnected: () => {
      rep.metrics.incEventReconnect();
      void loop.tick();
    },
    onStateChange: () => publisher.schedule(),
  });
  const loop: RunLoop = new RunLoop({
    supervisor: sup,
    watcher,
    metrics: rep.metrics,
    notifier: rep.notifier,
    hostProbe: rep.hostProbe,
    probeGateway: rep.probeGateway,
    publish: () => publisher.publish(),
    gatewayUrl: config.agent.gatewayUrl,
    dataDir: config.dataDir,
    reconcileIntervalSeconds: config.agent.reconcileIntervalSeconds,
    logger,
    clock,
    random,
  });
  /** Set once the agent begins stopping the stack, for the last snapshots. */
  let shutdown: Shutdown | null = null;
  /** Resolves when the idle controller decides to stop the host. */
  let requestIdleStop: (detail: string) => void = () => {};
  const idleStop = new Promise<string>((resolve) => {
    requestIdleStop = resolve;
  });
  const idleLog = componentLogger(deps.logger, 'idle');
  const prefix = config.s3.statusPrefix;
  const idle: IdleController | null = deps.idle
    ? new IdleController({
        settings: {
          stopAfterMinutes: config.idle.stopAfterMinutes,
          bootGraceMinutes: config.idle.bootGraceMinutes,
          announceMinutes: config.idle.announceMinutes,
          // A poll may take a source's timeout on top of its interval; a longer gap is a suspend or a hang.
          maxGapSeconds: 3 * config.idle.pollSeconds + 30,
        },
        pollSeconds: config.idle.pollSeconds,
        sources: deps.idle.sources,
        holds: readHolds({
          maintenance: () => deps.backups?.lease() ?? null,
          backupLockFile: lockFile(config.backup.runDir),
          // Converging is maintenance: a host must not power off halfway through a change.
          syncLockFile: syncLockFile(config.backup.runDir),
          acting: () => sup.busy(),
          keepAwake: deps.idle.objects
            ? new KeepAwakeReader(deps.idle.objects, prefix, deps.instance, idleLog)
            : null,
          now: () => clock.now(),
        }),
        bootedAt: startedAt,
        logger: idleLog,
        clock,
        onChange: () => publisher.schedule(),
        onAnnounce: () => {
          publisher.publish();
          void rep.s3?.flush(10_000);
        },
        onStop: (detail) => requestIdleStop(detail),
      })
    : null;
  const running = deps.idle?.objects
    ? new RunningHoursRecorder({
        objects: deps.idle.objects,
        prefix,
        instance: deps.instance,
        upSince: startedAt,
        logger: idleLog,
        clock,
      })
    : null;

  const publisher: Publisher = new Publisher({
    build: () =>
      buildSnapshot({
        supervisor: sup.view(),
        watcher: watcher.state(),
        host: loop.host,
        gateway: loop.gateway,
        s3: rep.s3?.state() ?? { lastUploadAt: null, lastError: null },
        project: config.compose.project,
        version: deps.version,
        instance: deps.instance,
        apiVersion: pre.engine.apiVersion,
        now: clock.now(),
        ...(deps.backups ? { backup: deps.backups.backup(), maintenance: deps.backups.lease() } : {}),
        ...(idle ? { idle: idle.status() } : {}),
        ...(deps.convergence ? { convergence: deps.convergence.status() } : {}),
        ...(shutdown ? { shutdown } : {}),
      }),
    metrics: rep.metrics,
    s3: rep.s3,
    notifier: rep.notifier,
    statusLine: rep.statusLine,
    logger,
    clock,
  });

  const server = await rep.startServer({
    listen: config.agent.listen,
    allowPublicListen: config.agent.allowPublicListen,
    getStatus: () => publisher.current(),
    getHealth: () => loop.health(),
  });

  /** The one way out: every part stops here, in order. `graceful` also stops the stack and says goodbye. */
  const stop = async (graceful: boolean): Promise<number> => {
    deps.backups?.stop();
    deps.convergence?.stop();
    const pollStopped = deps.desiredPoll?.stop();
    const idleStopped = idle?.stop();
    const runningStopped = running?.stop();
    sup.halt();
    const loopStopped = loop.stop();
    if (graceful) {
      logger.info('shutting down: stopping the stack');
      rep.notifier.stopping();
      publisher.publish();
    }
    publisher.cancel();
    await watcher.stop();
    let code = 0;
    if (graceful) {
      try {
        await sup.stop(config.agent.stopGraceSeconds);
        logger.info('stack stopped');
      } catch (err) {
        logComposeFailure(logger, err);
        code = 1;
      }
    }
    await loopStopped;
    await pollStopped;
    await idleStopped;
    await runningStopped;
    if (graceful) await running?.record();
    if (rep.s3) {
      if (graceful) {
        publisher.publish();
        publisher.cancel();
        await rep.s3.flush(5_000).catch(() => {});
      }
      rep.s3.stop();
    }
    await server.close();
    // STOPPING=1 and the last STATUS= line must reach systemd before the process exits.
    if (graceful) await rep.notifier.flush();
    return code;
  };

  // A signal during a long first `compose up` (image pulls) cancels it instead of waiting for it.
  const cancelActions = () => sup.halt();
  deps.shutdown.addEventListener('abort', cancelActions, { once: true });
  try {
    try {
      await watcher.start();
    } catch (err) {
      throw new HostError('unavailable', `cannot subscribe to Docker events: ${(err as Error).message}`, {
        cause: err,
      });
    }
    await sup.restoreMemory();
    // Before the bring-up: a restore's lease must be seen before `compose up` runs.
    await deps.backups?.start(() => {
      publisher.schedule();
      void loop.tick();
    });
    await deps.convergence?.start(() => publisher.schedule());
    await sup.reconcile();
    if (!deps.shutdown.aborted) await sup.bringUpWithRetry();
    await hostProbeStarted;
    await loop.tick();
    rep.notifier.ready();
    logger.info({ address: server.address, state: publisher.current().state }, 'agent ready');
    loop.start();
    idle?.start();
    running?.start();
    deps.desiredPoll?.start();
    const signalled = new Promise<void>((resolve) => {
      if (deps.shutdown.aborted) return resolve();
      deps.shutdown.addEventListener('abort', () => resolve(), { once: true });
    });
    const why = await Promise.race([signalled.then(() => null), idleStop]);
    const at = new Date(clock.now()).toISOString();
    shutdown =
      why === null
        ? { reason: 'system', at, detail: describeSignal(deps.shutdown.reason) }
        : { reason: 'idle', at, detail: why };
  } catch (err) {
    // Failed before running: leave nothing open that would keep the process alive.
    await stop(false);
    throw err;
  } finally {
    deps.shutdown.removeEventListener('abort', cancelActions);
  }
  if ((shutdown as Shutdown | null)?.reason === 'system' && deps.takeHandover) {
    const handover = await deps.takeHandover().catch(() => null);
    if (handover) {
      // sync restarts the agent (a new release, new host settings): the next agent takes over the
      // running stack and rebuilds its view from Docker, so the containers are left as they are.
      logger.info({ reason: handover.reason }, 'handover: exiting with the stack running');
      return stop(false);
    }
  }
  const code = await stop(true);
  const last = shutdown as Shutdown | null;
  if (last?.reason === 'idle' && deps.idle) {
    // After the final heartbeat (stop() flushed it): the operator's `status` must say why the host went.
    logger.warn({ detail: last.detail }, 'idle stop: powering the host off');
    try {
      await deps.idle.powerOff();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'power-off failed; the stack stays stopped');
      return 1;
    }
  }
  return code;
}

/** The shutdown signal's reason as the final snapshot tells it. */
function describeSignal(reason: unknown): string {
  const sig = typeof reason === 'string' ? reason : null;
  return sig
    ? `${sig} from systemd (instance shutdown, dalston-aws down or systemctl stop)`
    : 'stopped by systemd (instance shutdown, dalston-aws down or systemctl stop)';
}
