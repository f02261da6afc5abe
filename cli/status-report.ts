import { type BackupSummary, summarizeBackup } from '../shared/backup/backup-summary.ts';
import type { MaintenanceLease } from '../shared/backup/maintenance-lease.ts';
import type { IdleStatus } from '../shared/idle/idle-status.ts';
import type { KeepAwakeRead } from '../shared/idle/keep-awake.ts';
import { snapshotFreshness } from '../shared/status/heartbeat.ts';
import { serviceIsUp } from '../shared/status/service-up.ts';
import type { StatusSnapshot } from '../shared/status/snapshot.ts';
import { stackExitCode } from '../shared/status/stack-exit-code.ts';
import type { BootstrapRead } from './aws/bootstrap-reports.ts';
import type { InstanceInfo } from './aws/ec2.ts';
import type { SnapshotRead } from './aws/snapshots.ts';
import { type BootstrapView, bootstrapView } from './bootstrap-view.ts';
import type { LastStop } from './last-stop.ts';
import { type CostEstimate, estimateMonthlyCost, type VolumeSpec } from './pricing.ts';
import { formatDuration } from './render/format.ts';
import { type ConvergenceReport, convergenceReport } from './rollout.ts';
import { explainStop, type StopCause, type StopSchedule } from './stop-cause.ts';

/** `stopped`: the instance is not running, so the last snapshot is history, however young. */
export type HeartbeatStatus = 'fresh' | 'stale' | 'stopped' | 'missing' | 'malformed' | 'error';

/** The idle line: the agent's last idle decision, with the countdown judged at checkedAt. */
export interface IdleReport {
  state: IdleStatus['state'];
  summary: string;
  since: string | null;
  stopAt: string | null;
  /** Seconds from checkedAt to stopAt (0 when overdue); null without a stop time. */
  stopInSeconds: number | null;
  reasons: string[];
}

/** The keep-awake lease object as read now (it may be newer than the snapshot). */
export type LeaseReport =
  | { kind: 'none' }
  | { kind: 'active' | 'expired'; until: string; by: string }
  | { kind: 'malformed'; reason: string };

/** The one object `dalston-aws status --json` prints; the text screen is rendered from it too. */
export interface StatusReport {
  checkedAt: string;
  instance: {
    id: string;
    name: string | null;
    region: string;
    state: string;
    type: string;
    launchTime: string | null;
    /** Only while running or pending. */
    uptimeSeconds: number | null;
  };
  cost: CostEstimate;
  heartbeat: {
    status: HeartbeatStatus;
    location: string;
    at: string | null;
    ageSeconds: number | null;
    heartbeatSeconds: number | null;
    staleAfterSeconds: number | null;
    /** What is wrong when status is missing, malformed or error. */
    problem: string | null;
  };
  /** From the snapshot; `current` is false when the snapshot is stale. Null without a snapshot. */
  stack: {
    current: boolean;
    state: StatusSnapshot['state'];
    servicesUp: number;
    servicesTotal: number;
    agentVersion: string;
  } | null;
  services: Array<{
    name: string;
    state: string;
    health: string;
    agentRestarts: number;
    dockerRestarts: number;
    circuitOpen: boolean;
  }>;
  data: StatusSnapshot['host']['dataVolume'] | null;
  gateway: StatusSnapshot['gateway'] | null;
  /** The last backups, judged at checkedAt (overdue after 26 h); null without a snapshot or from an older agent. */
  backup: BackupSummary | null;
  /** A restore's maintenance lease in force when the snapshot was taken. */
  maintenance: MaintenanceLease | null;
  /** The host's last bootstrap result (`<prefix><instance>/bootstrap.json`). */
  bootstrap: BootstrapView;
  /** Only for a running instance with a current snapshot from an agent with idle stop. */
  idle: IdleReport | null;
  /** Null when the lease object could not be read. */
  lease: LeaseReport | null;
  /** Why a stopped (or stopping) instance stopped; null while running. */
  stop: StopCause | null;
  /**
   * Desired vs running and the last convergence step, from the snapshot (`not-reported`:
   * an agent from before convergence); `current` is false for a stale or stopped one. Null without a snapshot.
   */
  convergence: ConvergenceReport | null;
}

export interface StatusInputs {
  nowMs: number;
  region: string;
  instance: InstanceInfo;
  /** Null when the volume sizes could not be read; `volumeProblem` says why. */
  volumes: VolumeSpec[] | null;
  volumeProblem?: string | undefined;
  location: string;
  snapshot: SnapshotRead | { kind: 'error'; key: string; reason: string };
  bootstrap: BootstrapRead | { kind: 'error'; key: string; reason: string };
  bootstrapLocation: string;
  /** The keep-awake lease object judged now; null when it could not be read. */
  lease?: KeepAwakeRead | null;
  lastStop?: LastStop | null;
  stopSchedule?: StopSchedule | null;
  /** The gateway's address on the tailnet (cli/gateway-url.ts), shown instead of the host-local probe URL. */
  gatewayUrl?: string | null;
}

/** Pure: the serial console command, for a host that has reported nothing at all. */
export function consoleOutputCommand(instanceId: string, region: string): string {
  return `aws ec2 get-console-output --region ${region} --instance-id ${instanceId} --latest --output text`;
}

function leaseReport(r: KeepAwakeRead | null | undefined): LeaseReport | null {
  if (!r) return null;
  if (r.kind === 'none' || r.kind === 'malformed') return r;
  return { kind: r.kind, until: r.lease.until, by: r.lease.by };
}

/** Pure: observed instance, volumes and snapshot → the report. */
export function buildStatusReport(i: StatusInputs): StatusReport {
  const live = i.instance.state === 'running' || i.instance.state === 'pending';
  const launch = i.instance.launchTime;
  const cost = estimateMonthlyCost(i.instance.type, i.volumes ?? [], i.region);
  if (i.volumes === null) {
    cost.monthlyRunningUsd = null;
    cost.monthlyStoppedUsd = null;
    cost.notes.unshift(`volume sizes unknown: ${i.volumeProblem ?? 'not read'}`);
  }
  const report: StatusReport = {
    checkedAt: new Date(i.nowMs).toISOString(),
    instance: {
      id: i.instance.id,
      name: i.instance.name,
      region: i.region,
      state: i.instance.state,
      type: i.instance.type,
      launchTime: launch ? launch.toISOString() : null,
      uptimeSeconds: live && launch ? Math.max(0, Math.floor((i.nowMs - launch.getTime()) / 1000)) : null,
    },
    cost,
    heartbeat: {
      status: 'missing',
      location: i.location,
      at: null,
      ageSeconds: null,
      heartbeatSeconds: null,
      staleAfterSeconds: null,
      problem: null,
    },
    stack: null,
    services: [],
    data: null,
    gateway: null,
    backup: null,
    maintenance: null,
    bootstrap: bootstrapView(i.bootstrap, i.bootstrapLocation, launch),
    idle: null,
    lease: leaseReport(i.lease),
    stop: null,
    convergence: null,
  };
  const s = i.snapshot;
  const stopCause = () =>
    explainStop({
      instance: i.instance,
      snapshot: s.kind === 'ok' ? s.snapshot : null,
      lastStop: i.lastStop ?? null,
      schedule: i.stopSchedule ?? null,
    });
  report.stop = stopCause();
  if (s.kind === 'missing') {
    report.heartbeat.problem = `no heartbeat yet: nothing at ${i.location}`;
    if (report.bootstrap.status === 'missing' && live) {
      // Nothing from the host at all: the first-boot script may have failed before the bootstrap ran.
      report.bootstrap.next = [
        `no bootstrap result either; the first-boot script's output is on the serial console: ${consoleOutputCommand(i.instance.id, i.region)}`,
      ];
    }
    return report;
  }
  if (s.kind === 'malformed' || s.kind === 'error') {
    report.heartbeat.status = s.kind;
    report.heartbeat.problem =
      s.kind === 'malformed' ? `snapshot at ${i.location} is malformed: ${s.reason}` : s.reason;
    return report;
  }
  const snap = s.snapshot;
  const f = snapshotFreshness(snap, i.nowMs);
  // A young snapshot of a stopped instance is its last word, not a live heartbeat.
  const status: HeartbeatStatus = !live ? 'stopped' : f.stale ? 'stale' : 'fresh';
  report.heartbeat = {
    status,
    location: i.location,
    at: snap.generatedAt,
    ageSeconds: f.ageSeconds,
    heartbeatSeconds: snap.heartbeatSeconds,
    staleAfterSeconds: f.staleAfterSeconds,
    problem:
      status === 'stopped'
        ? `the instance is ${i.instance.state}: the last heartbeat is from before the stop`
        : f.stale
          ? `last heartbeat is older than ${f.staleAfterSeconds}s (2 intervals): not current`
          : null,
  };
  report.convergence = convergenceReport(snap.convergence, snap.version, live && !f.stale);
  if (!live) {
    // Nothing runs on a stopped instance: no services, /data or gateway from the old snapshot.
    report.stack = {
      current: false,
      state: snap.state,
      servicesUp: snap.services.filter(serviceIsUp).length,
      servicesTotal: snap.services.length,
      agentVersion: snap.version,
    };
    report.backup = summarizeBackup(snap.backup, i.nowMs);
    return report;
  }
  if (snap.idle && !f.stale) {
    const stopAt = snap.idle.stopAt;
    report.idle = {
      state: snap.idle.state,
      summary: snap.idle.summary,
      since: snap.idle.since,
      stopAt,
      stopInSeconds: stopAt === null ? null : Math.max(0, Math.round((Date.parse(stopAt) - i.nowMs) / 1000)),
      reasons: snap.idle.reasons,
    };
  }
  report.stack = {
    current: !f.stale,
    state: snap.state,
    servicesUp: snap.services.filter(serviceIsUp).length,
    servicesTotal: snap.services.length,
    agentVersion: snap.version,
  };
  report.services = snap.services.map((x) => ({
    name: x.name,
    state: x.state,
    health: x.health,
    agentRestarts: x.agentRestarts,
    dockerRestarts: x.dockerRestarts,
    circuitOpen: x.circuitOpen,
  }));
  report.data = snap.host.dataVolume;
  // The agent probes 127.0.0.1 on the host; the operator needs the tailnet address.
  report.gateway = snap.gateway && i.gatewayUrl ? { ...snap.gateway, url: i.gatewayUrl } : snap.gateway;
  report.backup = summarizeBackup(snap.backup, i.nowMs);
  report.maintenance = snap.maintenance ?? null;
  return report;
}

/**
 * Pure: the exit code of `dalston-aws status` and the one stderr line that explains a non-zero one.
 * A current heartbeat decides as `dalston-host status` does (stackExitCode); a running instance whose agent
 * has gone silent is not known healthy (1, like `dalston-host status` when the agent does not answer).
 * A stopped instance and a host that has not reported yet are shown, not failed (0).
 */
export function statusExit(r: StatusReport): { code: number; problem: string | null } {
  const h = r.heartbeat;
  if (h.status === 'malformed') return { code: 1, problem: h.problem };
  if (h.status === 'stale' && h.ageSeconds !== null) {
    return {
      code: 1,
      problem: `the last heartbeat is ${formatDuration(h.ageSeconds)} old (over ${h.staleAfterSeconds}s): the agent is silent, so the stack's state is not current`,
    };
  }
  if (h.status === 'fresh' && r.stack) {
    const code = stackExitCode(r.stack.state);
    return { code, problem: code === 0 ? null : `the stack is ${r.stack.state} (not healthy)` };
  }
  return { code: 0, problem: null };
}
