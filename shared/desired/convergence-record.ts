/**
 * The convergence record on the host: `<agent.stateDir>/convergence.json`,
 * written by `dalston-host sync` after every step and read by the agent for
 * `/status`, the heartbeat, Prometheus and `systemctl status dalston`.
 *
 * Under agent.stateDir (the root disk, beside the healing memory) rather than
 * on the data volume: it describes this instance's install (its release under
 * /opt, its units), so a replaced instance starts without it, like the
 * bootstrap's marker; and the agent already owns and reads that directory.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../bootstrap/atomic-write.ts';
import { CHANGE_KINDS, type ConvergenceStatus, convergenceStatusSchema } from './convergence-status.ts';

export const CONVERGENCE_FILE_NAME = 'convergence.json';

export function convergenceFile(stateDir: string): string {
  return join(stateDir, CONVERGENCE_FILE_NAME);
}

const attemptSchema = z.object({
  kind: z.enum(CHANGE_KINDS),
  desiredVersion: z.string(),
  outcome: z.enum(['applied', 'rolled-back', 'failed']),
  message: z.string(),
});

/** The status the agent reports, plus what only sync needs: the attempts for this desired state. */
export const convergenceRecordSchema = convergenceStatusSchema.extend({
  history: z.array(attemptSchema).default([]),
});
export type ConvergenceRecord = z.infer<typeof convergenceRecordSchema>;

export type RecordRead =
  | { kind: 'none' }
  | { kind: 'ok'; record: ConvergenceRecord }
  | { kind: 'unreadable'; reason: string };

/** Never throws: a missing file is `none` (sync never ran), a damaged one says why. */
export async function readConvergenceRecord(path: string): Promise<RecordRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'unreadable', reason: `${path}: ${(err as Error).message}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { kind: 'unreadable', reason: `${path}: not JSON (${(err as Error).message})` };
  }
  const parsed = convergenceRecordSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      kind: 'unreadable',
      reason: `${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    };
  }
  return { kind: 'ok', record: parsed.data };
}

export async function writeConvergenceRecord(path: string, record: ConvergenceRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
}

/**
 * The desired-state version the last finished sync worked towards: null when sync never ran, the
 * record is unreadable, or a step is still in progress (an interrupted step must be resumed).
 */
export function settledDesiredVersion(read: RecordRead): string | null {
  if (read.kind !== 'ok' || read.record.state === 'converging') return null;
  return read.record.desiredVersion;
}

/** The reported part of a record (what `/status` carries). */
export function statusOf(record: ConvergenceRecord): ConvergenceStatus {
  const { history: _history, ...status } = record;
  return status;
}

/** One sync at a time (`<backup.runDir>/sync.lock`, tmpfs): held by `dalston-host sync`, read by the agent's poll. */
export function syncLockFile(runDir: string): string {
  return join(runDir, 'sync.lock');
}
