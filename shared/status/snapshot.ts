/**
 * The agent's status snapshot: served at GET /status, uploaded to S3 as
 * `<statusPrefix><instance>/latest.json`, read by the operator CLI (`dalston-aws status`).
 * This file is the contract between those three; change it with care.
 */

export type StackState = 'starting' | 'healthy' | 'degraded' | 'stopping';
export type ServiceHealth = 'healthy' | 'unhealthy' | 'starting' | 'none';

export interface ServiceStatus {
  name: string;
  /** Null when the service has no container at all. */
  containerId: string | null;
  /** Docker's container state: running, exited, restarting, created, paused, dead, or 'missing'. */
  state: string;
  health: ServiceHealth;
  /** Healing actions the agent has taken on this service since it started. */
  agentRestarts: number;
  /** Docker's own RestartCount of the current container. */
  dockerRestarts: number;
  circuitOpen: boolean;
  lastAction: { action: string; reason: string; at: string } | null;
}

export interface HostStatus {
  cpuLoadPercent: number | null;
  memory: { totalBytes: number; usedBytes: number } | null;
  dataVolume: { mountPoint: string; mounted: boolean; device: string | null; usedPercent: number | null };
  gpus: Array<{ model: string; memoryTotalMiB: number | null; utilizationPercent: number | null }>;
}

export interface StatusSnapshot {
  state: StackState;
  project: string;
  version: string;
  /** ISO time the snapshot was taken. */
  generatedAt: string;
  /** EC2 instance id or hostname: the S3 key's directory. */
  instance: string;
  /** Heartbeat interval in seconds, so a reader can tell a stale snapshot. */
  heartbeatSeconds: number;
  services: ServiceStatus[];
  host: HostStatus;
  docker: {
    connected: boolean;
    apiVersion: string | null;
    eventsConnected: boolean;
    lastEventAt: string | null;
  };
  gateway: { url: string; ok: boolean; checkedAt: string | null };
  s3: { lastUploadAt: string | null; lastError: string | null };
}
