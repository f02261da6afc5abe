/**
 * What the host knows about converging to its desired state
 * (shared/desired/desired-state.ts): written by `dalston-host sync` to its
 * state file after every step, read by the agent into `/status`, the S3
 * heartbeat, Prometheus and `systemctl status dalston`, and by
 * `dalston-aws deploy`/`status` to show drift and wait for a rollout.
 * Objects are not strict: a newer host may add fields.
 */
import { z } from 'zod';
import { hostVersionsSchema } from './desired-state.ts';

const isoTime = z.iso.datetime({ offset: true });

/** The kinds of change, applied one at a time in this order. */
export const CHANGE_KINDS = ['release', 'host-settings', 'dalston'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/**
 * converged: running == desired. converging: a step is in progress.
 * rolled-back: the last step failed and the previous version runs again.
 * failed: the last step failed and could not be rolled back (or must not be: a migrated database).
 * unknown: the desired state could not be read (S3, a malformed object); `problem` says why.
 */
export const CONVERGENCE_STATES = ['converged', 'converging', 'rolled-back', 'failed', 'unknown'] as const;

export const convergenceResultSchema = z.object({
  kind: z.enum(CHANGE_KINDS),
  outcome: z.enum(['applied', 'rolled-back', 'failed']),
  /** e.g. `dalston v1.2.3 → v1.3.0 (image 1.3.0): healthy in 84 s`, or the error. */
  message: z.string(),
  startedAt: isoTime,
  finishedAt: isoTime,
  /** Dalston changes: the Alembic revision moved during the attempt (old code must not run on it). */
  migrated: z.boolean().optional(),
  /** Dalston changes: the backup taken first, and the command that restores it. */
  backupKey: z.string().nullable().optional(),
  restoreCommand: z.string().nullable().optional(),
  /** Gateway downtime during the step, in seconds, when measured. */
  downtimeSeconds: z.number().nonnegative().nullable().optional(),
});

export const convergenceStatusSchema = z.object({
  state: z.enum(CONVERGENCE_STATES),
  /** What the host runs now. */
  running: hostVersionsSchema,
  /** What the desired state asks for; null until it has been read once. */
  desired: hostVersionsSchema.nullable(),
  /** The S3 object version (or ETag) of the desired state last read, and when it was checked. */
  desiredVersion: z.string().nullable(),
  checkedAt: isoTime.nullable(),
  /** The step in progress (state `converging`), else null. */
  step: z.enum(CHANGE_KINDS).nullable(),
  /** One line for people, e.g. `dalston v1.3.0 failed health; rolled back to v1.2.3`. */
  summary: z.string(),
  lastResult: convergenceResultSchema.nullable(),
  /** Why the desired state could not be read or applied; null when nothing is wrong. */
  problem: z.string().nullable(),
});

export type ConvergenceResult = z.infer<typeof convergenceResultSchema>;
export type ConvergenceStatus = z.infer<typeof convergenceStatusSchema>;
export type ConvergenceState = ConvergenceStatus['state'];
