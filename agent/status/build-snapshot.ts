import { HEARTBEAT_SECONDS } from '../../shared/status/heartbeat.ts';
import type { HostStatus, StatusSnapshot } from '../../shared/status/snapshot.ts';
import type { EventWatcherState } from '../supervisor/event-watcher.ts';
import { stackState } from '../supervisor/stack-state.ts';
import type { SupervisorView } from '../supervisor/supervisor.ts';

/** What the agent last learned about the gateway URL. */
export type GatewayStatus = StatusSnapshot['gateway'];

export interface SnapshotParts {
  supervisor: SupervisorView;
  watcher: EventWatcherState;
  host: HostStatus;
  gateway: GatewayStatus;
  s3: StatusSnapshot['s3'];
  project: string;
  version: string;
  instance: string;
  /** The Docker API version preflight found. */
  apiVersion: string | null;
  /** The snapshot's time (epoch ms). */
  now: number;
  /** The backup state file as last read (null: no backup yet); absent: not watched. */
  backup?: StatusSnapshot['backup'];
  /** The maintenance lease in force; absent: not watched. */
  maintenance?: StatusSnapshot['maintenance'];
  /** The idle controller's status; absent: no idle controller (tests of other parts). */
  idle?: StatusSnapshot['idle'];
  /** Desired vs running and the last convergence step (the sync record); absent: not reported. */
  convergence?: StatusSnapshot['convergence'];
  /** Why the agent is stopping the stack, once it is. */
  shutdown?: StatusSnapshot['shutdown'];
}

/** The status snapshot (shared/status/snapshot.ts) from the agent's parts: pure, no IO. */
export function buildSnapshot(p: SnapshotParts): StatusSnapshot {
  const v = p.supervisor;
  return {
    state: stackState({
      stopping: v.stopping,
      reconciled: v.lastReconcileAt !== null,
      bringUpFailing: v.bringUp.failing,
      dockerConnected: v.dockerConnected,
      dataVolumeMissing: v.dataVolume.missing,
      conditions: v.conditions,
      services: v.services.map((s) => s.name),
      circuitOpen: v.circuitOpen,
      busy: v.busy,
      gatewayOk: p.gateway.ok,
    }),
    reason: v.dataVolume.missing ? v.dataVolume.reason : null,
    project: p.project,
    version: p.version,
    generatedAt: new Date(p.now).toISOString(),
    instance: p.instance,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    services: v.services,
    host: p.host,
    docker: {
      connected: v.dockerConnected,
      apiVersion: p.apiVersion,
      eventsConnected: p.watcher.connected,
      lastEventAt: p.watcher.lastEventAt === null ? null : new Date(p.watcher.lastEventAt).toISOString(),
    },
    gateway: { ...p.gateway },
    s3: { ...p.s3 },
    ...(p.backup !== undefined ? { backup: p.backup } : {}),
    ...(p.maintenance !== undefined ? { maintenance: p.maintenance } : {}),
    ...(p.idle !== undefined ? { idle: p.idle } : {}),
    ...(p.convergence !== undefined ? { convergence: p.convergence } : {}),
    ...(p.shutdown !== undefined ? { shutdown: p.shutdown } : {}),
  };
}
