/**
 * Prometheus metrics of the agent, on a registry of its own (never prom-client's
 * global one, so tests and embedders can create several). Series:
 *
 *   dalston_service_up{service}                     1 running, 0 not (missing, exited, restarting…)
 *   dalston_service_health{service,health}          state set: 1 on the current health
 *                                                   (healthy|unhealthy|starting|none), 0 on the others
 *   dalston_service_circuit_open{service}           1 while the restart budget is spent
 *   dalston_service_docker_restarts{service}        Docker's RestartCount of the current container
 *   dalston_agent_actions_total{service,action}     healing actions taken (restart, recreate, …)
 *   dalston_agent_event_stream_reconnects_total     Docker event stream reconnects
 *   dalston_agent_reconcile_duration_seconds        histogram of full reconciles
 *   dalston_stack_state{state}                      state set over starting|healthy|degraded|stopping
 *   dalston_docker_connected, dalston_docker_events_connected, dalston_gateway_up   0/1
 *   dalston_host_cpu_load_ratio (0–1), dalston_host_memory_used_bytes, dalston_host_memory_total_bytes
 *                                                   NaN while the probe has no value
 *   dalston_data_volume_mounted{mount_point}        0/1
 *   dalston_data_volume_used_ratio{mount_point}     0–1; absent while unknown
 *   dalston_agent_info{version,project,instance_id} always 1 (`instance` is Prometheus's target label)
 *   dalston_backup_last_success_timestamp_seconds   end of the last successful backup (absent: none yet)
 *   dalston_backup_last_size_bytes                  size of that backup's dump
 *   dalston_backup_failures_total                   failed backups (from the host's backup state file)
 *   dalston_backup_consecutive_failures             failed backups since the last success
 *   dalston_maintenance_active                      1 while a restore holds services (maintenance lease)
 *   dalston_idle_seconds                            how long Dalston has been idle (0 while busy or off)
 *   dalston_idle_stop_at_timestamp_seconds          when the host will stop itself if nothing changes (0: no stop due)
 *   dalston_idle_signals_unreadable                 idle signals that could not be read at the last poll (they count as busy)
 *   dalston_convergence_state{state}                state set over converged|converging|rolled-back|failed|unknown
 *   dalston_convergence_in_sync                     1 when the host runs what the desired state asks for
 *   dalston_convergence_versions_info{side,release,dalston_ref,image_tag}  side running|desired; always 1
 *   dalston_convergence_last_result{kind,outcome}   1 on the last step's kind and outcome
 *   dalston_convergence_last_result_timestamp_seconds  when the last step finished (0: none yet)
 * plus prom-client's process_* / nodejs_* series unless `processMetrics: false`.
 * The output passes `promtool check metrics` (test/integration/agent-report/promtool.test.ts).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CONVERGENCE_STATES } from '../../shared/desired/convergence-status.ts';
import type { HostVersions } from '../../shared/desired/desired-state.ts';

function sameVersions(a: HostVersions, b: HostVersions): boolean {
  return (
    a.release === b.release &&
    a.dalstonRef === b.dalstonRef &&
    a.imageTag === b.imageTag &&
    [...a.services].sort().join(',') === [...b.services].sort().join(',')
  );
}

import type { ServiceHealth, StackState, StatusSnapshot } from '../../shared/status/snapshot.ts';
import { isUnreadableReason } from '../idle/policy.ts';

const HEALTH_VALUES: ServiceHealth[] = ['healthy', 'unhealthy', 'starting', 'none'];
const STACK_STATES: StackState[] = ['starting', 'healthy', 'degraded', 'stopping'];
const NON_COUNTER_TOTALS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export class AgentMetrics {
  readonly registry: Registry;
  readonly contentType: string;

  private readonly serviceUp: Gauge<'service'>;
  private readonly serviceHealth: Gauge<'service' | 'health'>;
  private readonly circuitOpen: Gauge<'service'>;
  private readonly dockerRestarts: Gauge<'service'>;
  private readonly actions: Counter<'service' | 'action'>;
  private readonly reconnects: Counter;
  private readonly reconcileDuration: Histogram;
  private readonly stackState: Gauge<'state'>;
  private readonly dockerConnected: Gauge;
  private readonly eventsConnected: Gauge;
  private readonly gatewayUp: Gauge;
  private readonly cpuLoad: Gauge;
  private readonly memUsed: Gauge;
  private readonly memTotal: Gauge;
  private readonly volumeMounted: Gauge<'mount_point'>;
  private readonly volumeUsed: Gauge<'mount_point'>;
  private readonly info: Gauge<'version' | 'project' | 'instance_id'>;
  private readonly backupLastSuccess: Gauge;
  private readonly backupLastSize: Gauge;
  private readonly backupFailures: Counter;
  private readonly backupConsecutiveFailures: Gauge;
  private readonly maintenance: Gauge;
  private readonly idleSeconds: Gauge;
  private readonly idleStopAt: Gauge;
  private readonly idleUnreadable: Gauge;
  private readonly convergenceState: Gauge<'state'>;
  private readonly convergenceInSync: Gauge;
  private readonly convergenceVersions: Gauge<'side' | 'release' | 'dalston_ref' | 'image_tag'>;
  private readonly convergenceLastResult: Gauge<'kind' | 'outcome'>;
  private readonly convergenceLastResultAt: Gauge;
  /** The state file's failure total last added to the counter (null: not read yet). */
  private backupFailuresSeen: number | null = null;

  constructor(opts: { processMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    this.contentType = this.registry.contentType;
    if (opts.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client also exports these counts as gauges named *_total, which promtool rejects
      // (only counters end in _total); the same values stay in nodejs_active_{handles,requests,resources}.
      for (const name of NON_COUNTER_TOTALS) this.registry.removeSingleMetric(name);
    }

    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Gauge<L>({ name, help, labelNames, registers });

    this.serviceUp = gauge('dalston_service_up', 'Whether the service has a running container.', ['service']);
    this.serviceHealth = gauge(
      'dalston_service_health',
      "Docker health of the service's container: 1 on the current value of the health label.",
      ['service', 'health'],
    );
    this.circuitOpen = gauge(
      'dalston_service_circuit_open',
      "1 while the service's restart budget is spent and the agent no longer acts on it.",
      ['service'],
    );
    this.dockerRestarts = gauge(
      'dalston_service_docker_restarts',
      "Docker's restart count of the service's current container.",
      ['service'],
    );
    this.actions = new Counter({
      name: 'dalston_agent_actions_total',
      help: 'Healing actions the agent took, by service and action.',
      labelNames: ['service', 'action'],
      registers,
    });
    this.reconnects = new Counter({
      name: 'dalston_agent_event_stream_reconnects_total',
      help: 'Times the Docker event stream was reconnected.',
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'dalston_agent_reconcile_duration_seconds',
      help: 'Duration of full reconciles.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.stackState = gauge(
      'dalston_stack_state',
      'Stack state: 1 on the current value of the state label.',
      ['state'],
    );
    this.dockerConnected = gauge('dalston_docker_connected', 'Whether the Docker daemon answers.');
    this.eventsConnected = gauge(
      'dalston_docker_events_connected',
      'Whether the Docker event stream is connected.',
    );
    this.gatewayUp = gauge('dalston_gateway_up', "Whether the gateway's health endpoint answered OK.");
    this.cpuLoad = gauge('dalston_host_cpu_load_ratio', 'Host CPU load, 0 to 1 (NaN when unknown).');
    this.memUsed = gauge(
      'dalston_host_memory_used_bytes',
      'Host memory in use, without caches (NaN when unknown).',
    );
    this.memTotal = gauge('dalston_host_memory_total_bytes', 'Host memory in total (NaN when unknown).');
    this.volumeMounted = gauge(
      'dalston_data_volume_mounted',
      'Whether the data directory is a mount point of its own.',
      ['mount_point'],
    );
    this.volumeUsed = gauge('dalston_data_volume_used_ratio', 'Used share of the data volume, 0 to 1.', [
      'mount_point',
    ]);
    this.info = gauge('dalston_agent_info', 'Agent version, compose project and EC2 instance id; always 1.', [
      'version',
      'project',
      'instance_id',
    ]);
    for (const g of [this.cpuLoad, this.memUsed, this.memTotal]) g.set(Number.NaN);
    this.backupLastSuccess = gauge(
      'dalston_backup_last_success_timestamp_seconds',
      'When the last successful Postgres backup finished (Unix time).',
    );
    this.backupLastSize = gauge(
      'dalston_backup_last_size_bytes',
      'Size of the last successful backup (bytes).',
    );
    this.backupFailures = new Counter({
      name: 'dalston_backup_failures_total',
      help: 'Failed Postgres backups.',
      registers,
    });
    this.backupConsecutiveFailures = gauge(
      'dalston_backup_consecutive_failures',
      'Failed Postgres backups since the last successful one.',
    );
    this.maintenance = gauge(
      'dalston_maintenance_active',
      'Whether a maintenance lease (a restore) holds services, so the agent does not heal them.',
    );
    this.idleSeconds = gauge('dalston_idle_seconds', 'How long Dalston has been idle (0 while busy).');
    this.idleStopAt = gauge(
      'dalston_idle_stop_at_timestamp_seconds',
      'When the host stops itself if Dalston stays idle (Unix time; 0 when no stop is due).',
    );
    this.idleUnreadable = gauge(
      'dalston_idle_signals_unreadable',
      'Idle signals that could not be read at the last poll (each counts as busy).',
    );
    this.convergenceState = gauge(
      'dalston_convergence_state',
      'Convergence to the desired state (config/host.json): 1 on the current value of the state label.',
      ['state'],
    );
    this.convergenceInSync = gauge(
      'dalston_convergence_in_sync',
      'Whether the host runs the desired release, Dalston ref, image tag and services (0 also while unknown).',
    );
    this.convergenceVersions = gauge(
      'dalston_convergence_versions_info',
      'The versions the host runs (side="running") and the desired state asks for (side="desired"); always 1.',
      ['side', 'release', 'dalston_ref', 'image_tag'],
    );
    this.convergenceLastResult = gauge(
      'dalston_convergence_last_result',
      'The last convergence step: 1 on its kind and outcome (applied, rolled-back, failed).',
      ['kind', 'outcome'],
    );
    this.convergenceLastResultAt = gauge(
      'dalston_convergence_last_result_timestamp_seconds',
      'When the last convergence step finished (Unix time; 0 before the first).',
    );
  }

  /** Replaces every snapshot-derived series, so services that left the snapshot leave the output too. */
  observeSnapshot(s: StatusSnapshot): void {
    for (const g of [this.serviceUp, this.serviceHealth, this.circuitOpen, this.dockerRestarts]) g.reset();
    for (const svc of s.services) {
      const service = svc.name;
      this.serviceUp.set({ service }, svc.state === 'running' ? 1 : 0);
      for (const health of HEALTH_VALUES)
        this.serviceHealth.set({ service, health }, svc.health === health ? 1 : 0);
      this.circuitOpen.set({ service }, svc.circuitOpen ? 1 : 0);
      this.dockerRestarts.set({ service }, svc.dockerRestarts);
    }
    for (const state of STACK_STATES) this.stackState.set({ state }, s.state === state ? 1 : 0);
    this.dockerConnected.set(s.docker.connected ? 1 : 0);
    this.eventsConnected.set(s.docker.eventsConnected ? 1 : 0);
    this.gatewayUp.set(s.gateway.ok ? 1 : 0);

    const h = s.host;
    this.cpuLoad.set(h.cpuLoadPercent === null ? Number.NaN : h.cpuLoadPercent / 100);
    this.memUsed.set(h.memory?.usedBytes ?? Number.NaN);
    this.memTotal.set(h.memory?.totalBytes ?? Number.NaN);
    this.volumeMounted.reset();
    this.volumeUsed.reset();
    const mount_point = h.dataVolume.mountPoint;
    this.volumeMounted.set({ mount_point }, h.dataVolume.mounted ? 1 : 0);
    if (h.dataVolume.usedPercent !== null)
      this.volumeUsed.set({ mount_point }, h.dataVolume.usedPercent / 100);

    this.info.reset();
    this.info.set({ version: s.version, project: s.project, instance_id: s.instance }, 1);
    this.observeBackup(s);
    this.observeIdle(s);
    this.observeConvergence(s);
  }

  private observeConvergence(s: StatusSnapshot): void {
    const c = s.convergence;
    for (const state of CONVERGENCE_STATES) this.convergenceState.set({ state }, c?.state === state ? 1 : 0);
    this.convergenceVersions.reset();
    this.convergenceLastResult.reset();
    const versions = (side: string, v: HostVersions) =>
      this.convergenceVersions.set(
        { side, release: v.release, dalston_ref: v.dalstonRef ?? '', image_tag: v.imageTag ?? '' },
        1,
      );
    if (c) versions('running', c.running);
    if (c?.desired) versions('desired', c.desired);
    this.convergenceInSync.set(c?.desired && sameVersions(c.running, c.desired) ? 1 : 0);
    const r = c?.lastResult;
    if (r) this.convergenceLastResult.set({ kind: r.kind, outcome: r.outcome }, 1);
    this.convergenceLastResultAt.set(r ? Date.parse(r.finishedAt) / 1000 : 0);
  }

  private observeIdle(s: StatusSnapshot): void {
    const i = s.idle;
    const since = i?.since ? Date.parse(i.since) : null;
    this.idleSeconds.set(since === null ? 0 : Math.max(0, (Date.parse(s.generatedAt) - since) / 1000));
    this.idleStopAt.set(i?.stopAt ? Date.parse(i.stopAt) / 1000 : 0);
    this.idleUnreadable.set(i ? i.reasons.filter(isUnreadableReason).length : 0);
  }

  private observeBackup(s: StatusSnapshot): void {
    this.maintenance.set(s.maintenance ? 1 : 0);
    const b = s.backup;
    this.backupLastSuccess.reset();
    this.backupLastSize.reset();
    if (b?.lastSuccess) {
      this.backupLastSuccess.set(Date.parse(b.lastSuccess.at) / 1000);
      this.backupLastSize.set(b.lastSuccess.sizeBytes);
    }
    this.backupConsecutiveFailures.set(b?.consecutiveFailures ?? 0);
    // The state file keeps the total across agent restarts; the counter adds what is new since it was last read
    // (a state file started over lowers the mark, so its next failures count again).
    if (b && b.problem === null) {
      const seen = this.backupFailuresSeen ?? 0;
      if (b.failuresTotal > seen) this.backupFailures.inc(b.failuresTotal - seen);
      this.backupFailuresSeen = b.failuresTotal;
    }
  }

  incAgentAction(service: string, action: string): void {
    this.actions.inc({ service, action });
  }

  incEventReconnect(): void {
    this.reconnects.inc();
  }

  observeReconcile(seconds: number): void {
    this.reconcileDuration.observe(seconds);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
