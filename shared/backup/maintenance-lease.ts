/**
 * Maintenance mode: a lease file (`<backup.runDir>/maintenance.json`, root-only,
 * on /run so a reboot ends it) in which `dalston-host restore` names the
 * services the agent must leave alone while it works on the database. The agent
 * reads it before every action and reports it in `/status`.
 *
 * A lease is in force only while it has not expired and its holder's process is
 * alive: the restore renews `expiresAt` as it goes, so a restore that crashed or
 * was killed never leaves the host in maintenance for longer than the lease's
 * time to live, and not at all once its PID is gone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { pidAlive } from '../process-alive.ts';

const isoTime = z.iso.datetime({ offset: true });

export const maintenanceLeaseSchema = z.object({
  /** What is going on, e.g. `restore backups/postgres/20260501T041503.123Z.dump`. */
  reason: z.string(),
  /** Who holds it, e.g. `dalston-host restore`. */
  holder: z.string(),
  pid: z.number().int().positive(),
  since: isoTime,
  expiresAt: isoTime,
  /** Compose services the agent must not act on (Postgres and everything depending on it). */
  services: z.array(z.string()),
});

export type MaintenanceLease = z.infer<typeof maintenanceLeaseSchema>;

export const leaseFile = (runDir: string) => join(runDir, 'maintenance.json');
/** One backup or restore at a time (backup/lock.ts). */
export const lockFile = (runDir: string) => join(runDir, 'backup.lock');

export type LeaseRead =
  | { kind: 'none' }
  | { kind: 'active'; lease: MaintenanceLease }
  | { kind: 'ended'; lease: MaintenanceLease; why: string }
  | { kind: 'malformed'; reason: string };

/** Pure: a lease file's text judged at `now`. */
export function judgeLease(text: string, now: number, alive: (pid: number) => boolean): LeaseRead {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { kind: 'malformed', reason: `not JSON (${(err as Error).message})` };
  }
  const r = maintenanceLeaseSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { kind: 'malformed', reason: `wrong shape at ${issue?.path.join('.') || '(root)'}` };
  }
  const lease = r.data;
  if (Date.parse(lease.expiresAt) <= now)
    return { kind: 'ended', lease, why: `expired at ${lease.expiresAt}` };
  if (!alive(lease.pid)) return { kind: 'ended', lease, why: `its holder (pid ${lease.pid}) is gone` };
  return { kind: 'active', lease };
}

/**
 * Reads the lease file now (synchronously: it is a few hundred bytes on tmpfs,
 * and the agent checks it right before each action). A malformed file holds
 * nothing: only a lease that proves itself stops the agent from healing.
 */
export function readLease(path: string, now: number, alive: (pid: number) => boolean = pidAlive): LeaseRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'malformed', reason: `cannot read ${path} (${(err as NodeJS.ErrnoException).code})` };
  }
  return judgeLease(text, now, alive);
}
