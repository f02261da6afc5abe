/**
 * The last backups' outcome on this host: a small JSON file (`backup.stateFile`,
 * /var/lib/dalston/backup.json) that every `dalston-host backup` rewrites
 * atomically and the agent reads each tick for `/status`, Prometheus, the S3
 * heartbeat and systemd's status line. The same shape is the snapshot's
 * `backup` block (shared/status/snapshot.ts). Objects are not strict, and the
 * reader never throws: a newer writer may add fields, and a damaged file is
 * reported, not fatal.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const isoTime = z.iso.datetime({ offset: true });

export const backupRunSchema = z.object({
  startedAt: isoTime,
  finishedAt: isoTime,
  /** 'success' or 'failure' (a string, so a newer writer's new value does not break older readers). */
  result: z.string(),
  /** What started it: 'timer', 'manual', 'before-restore'. */
  trigger: z.string(),
  /** The object written (null when the run failed before choosing one). */
  key: z.string().nullable(),
  sizeBytes: z.number().nullable(),
  durationSeconds: z.number().nullable(),
  /** One line: why it failed. */
  error: z.string().nullable(),
});

export const backupSuccessSchema = z.object({
  at: isoTime,
  key: z.string(),
  sizeBytes: z.number(),
  sha256: z.string(),
  alembicRevision: z.string().nullable(),
  durationSeconds: z.number(),
});

export const backupStateSchema = z.object({
  lastRun: backupRunSchema.nullable(),
  lastSuccess: backupSuccessSchema.nullable(),
  /** Failed runs on this host since the state file was created (only grows). */
  failuresTotal: z.number().int().nonnegative(),
  /** Failed runs since the last success. */
  consecutiveFailures: z.number().int().nonnegative(),
});

export type BackupRun = z.infer<typeof backupRunSchema>;
export type BackupSuccess = z.infer<typeof backupSuccessSchema>;
export type BackupState = z.infer<typeof backupStateSchema>;

export const EMPTY_BACKUP_STATE: BackupState = {
  lastRun: null,
  lastSuccess: null,
  failuresTotal: 0,
  consecutiveFailures: 0,
};

/** Pure: the state after one more run. */
export function recordRun(prev: BackupState, run: BackupRun, success: BackupSuccess | null): BackupState {
  const ok = run.result === 'success' && success !== null;
  return {
    lastRun: run,
    lastSuccess: ok ? success : prev.lastSuccess,
    failuresTotal: prev.failuresTotal + (ok ? 0 : 1),
    consecutiveFailures: ok ? 0 : prev.consecutiveFailures + 1,
  };
}

export type BackupStateRead =
  | { kind: 'ok'; state: BackupState }
  | { kind: 'missing' }
  | { kind: 'malformed'; reason: string };

/** Pure: checks a state file's text. */
export function parseBackupState(text: string): BackupStateRead {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { kind: 'malformed', reason: `not JSON (${(err as Error).message})` };
  }
  const r = backupStateSchema.safeParse(raw);
  if (r.success) return { kind: 'ok', state: r.data };
  const issue = r.error.issues[0];
  return {
    kind: 'malformed',
    reason: `wrong shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
  };
}

/** Reads the state file; never throws ('missing' when there is none yet). */
export async function readBackupState(path: string): Promise<BackupStateRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'malformed', reason: `cannot read ${path} (${code ?? (err as Error).message})` };
  }
  return parseBackupState(text);
}
