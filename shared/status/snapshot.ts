/**
 * The agent's status snapshot: served at GET /status, uploaded to S3 (see
 * s3-key.ts), read by `dalston-host status`, `dalston-aws` and the rehearsal.
 * This schema is the one definition of that contract; the types are inferred
 * from it, so the agent that writes a snapshot and every reader that validates
 * one cannot drift apart. Objects are not strict: a newer agent may add fields
 * and an older reader still accepts the snapshot.
 */
import { z } from 'zod';
import { backupRunSchema, backupSuccessSchema } from '../backup/backup-state.ts';
import { maintenanceLeaseSchema } from '../backup/maintenance-lease.ts';
import { convergenceStatusSchema } from '../desired/convergence-status.ts';
import { SERVICE_HEALTH } from '../engine/docker/types.ts';
import { idleStatusSchema, shutdownSchema } from '../idle/idle-status.ts';

export const STACK_STATES = ['starting', 'healthy', 'degraded', 'stopping'] as const;

const isoTime = z.iso.datetime({ offset: true });

export const serviceStatusSchema = z.object({
  name: z.string(),
  /** Null when the service has no container at all. */
  containerId: z.string().nullable(),
  /** Docker's container state: running, exited, restarting, created, paused, dead, or 'missing'. */
  state: z.string(),
  health: z.enum(SERVICE_HEALTH),
  /** Healing actions the agent has taken on this service. */
  agentRestarts: z.number().int().nonnegative(),
  /** Docker's own RestartCount of the current container. */
  dockerRestarts: z.number().int().nonnegative(),
  circuitOpen: z.boolean(),
  lastAction: z.object({ action: z.string(), reason: z.string(), at: z.string() }).nullable(),
});

export const hostStatusSchema = z.object({
  cpuLoadPercent: z.number().nullable(),
  memory: z.object({ totalBytes: z.number(), usedBytes: z.number() }).nullable(),
  dataVolume: z.object({
    mountPoint: z.string(),
    mounted: z.boolean(),
    device: z.string().nullable(),
    usedPercent: z.number().nullable(),
  }),
  gpus: z.array(
    z.object({
      model: z.string(),
      memoryTotalMiB: z.number().nullable(),
      utilizationPercent: z.number().nullable(),
    }),
  ),
});

/** The last backups, from the host's backup state file (shared/backup/backup-state.ts). */
export const backupStatusSchema = z.object({
  lastRun: backupRunSchema.nullable(),
  lastSuccess: backupSuccessSchema.nullable(),
  failuresTotal: z.number().int().nonnegative(),
  consecutiveFailures: z.number().int().nonnegative(),
  /** Why the state file could not be read; null when it could. */
  problem: z.string().nullable(),
});

export const statusSnapshotSchema = z.object({
  state: z.enum(STACK_STATES),
  /**
   * A stack-wide cause the agent knows for a state that is not healthy, e.g.
   * `data volume missing: /data is not a mount point`; null when there is none.
   * Optional: snapshots from agents before it have no such field.
   */
  reason: z.string().nullable().optional(),
  project: z.string(),
  version: z.string(),
  /** ISO time the snapshot was taken. */
  generatedAt: isoTime,
  /** EC2 instance id or hostname: the S3 key's directory. */
  instance: z.string(),
  /** Heartbeat interval in seconds, so a reader can tell a stale snapshot (heartbeat.ts). */
  heartbeatSeconds: z.number().positive(),
  services: z.array(serviceStatusSchema),
  host: hostStatusSchema,
  docker: z.object({
    connected: z.boolean(),
    apiVersion: z.string().nullable(),
    eventsConnected: z.boolean(),
    lastEventAt: z.string().nullable(),
  }),
  gateway: z.object({ url: z.string(), ok: z.boolean(), checkedAt: z.string().nullable() }),
  s3: z.object({ lastUploadAt: z.string().nullable(), lastError: z.string().nullable() }),
  /** Null: no backup has run on this host yet. Absent: an agent from before backups. */
  backup: backupStatusSchema.nullable().optional(),
  /** The maintenance lease in force (restore), or null. Absent: an agent from before maintenance mode. */
  maintenance: maintenanceLeaseSchema.nullable().optional(),
  /** The idle policy's last decision. Absent: an agent from before idle stop. */
  idle: idleStatusSchema.optional(),
  /** Desired vs running versions and the last convergence step. Absent: an agent from before convergence. */
  convergence: convergenceStatusSchema.optional(),
  /** Set only in the last snapshot of an agent that is stopping the stack: why. */
  shutdown: shutdownSchema.nullable().optional(),
});

export type StatusSnapshot = z.infer<typeof statusSnapshotSchema>;
export type ServiceStatus = z.infer<typeof serviceStatusSchema>;
export type HostStatus = z.infer<typeof hostStatusSchema>;
export type BackupStatus = z.infer<typeof backupStatusSchema>;
export type StackState = StatusSnapshot['state'];
export type { ServiceHealth } from '../engine/docker/types.ts';

export type SnapshotParse = { kind: 'ok'; snapshot: StatusSnapshot } | { kind: 'malformed'; reason: string };

/** Parses and shape-checks a snapshot body (JSON text or an already-parsed value); never throws. */
export function parseSnapshot(body: string | unknown): SnapshotParse {
  let raw: unknown = body;
  if (typeof body === 'string') {
    try {
      raw = JSON.parse(body);
    } catch (err) {
      return { kind: 'malformed', reason: `not JSON (${(err as Error).message})` };
    }
  }
  const parsed = statusSnapshotSchema.safeParse(raw);
  if (parsed.success) return { kind: 'ok', snapshot: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : '(root)';
  const more = parsed.error.issues.length > 1 ? ` (+${parsed.error.issues.length - 1} more)` : '';
  return { kind: 'malformed', reason: `wrong shape at ${where}: ${issue?.message ?? 'invalid'}${more}` };
}
