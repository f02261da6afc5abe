/**
 * The idle part of the status snapshot (shared/status/snapshot.ts): what the
 * agent's idle policy (agent/idle/policy.ts) decided at its last poll, and,
 * in the final heartbeat before the host powers itself off, why it stopped.
 * `dalston-aws status` reads it to show idle time, the countdown, the lease and
 * the reason of a stop.
 */
import { z } from 'zod';
import { keepAwakeLeaseSchema } from './keep-awake.ts';

const isoTime = z.iso.datetime({ offset: true });

export const IDLE_STATES = ['disabled', 'busy', 'idle', 'announce', 'stopping'] as const;

export const idleStatusSchema = z.object({
  state: z.enum(IDLE_STATES),
  /** One line, e.g. `idle 55 min — stopping in 5 min` (agent/idle/policy.ts describeIdle). */
  summary: z.string(),
  /** Idle since (ISO) when idle/announce/stopping, else null. */
  since: isoTime.nullable(),
  /** When the host will stop if nothing changes (ISO), else null. */
  stopAt: isoTime.nullable(),
  /** Why busy (each signal that is not idle, each maintenance) or what holds the stop back. */
  reasons: z.array(z.string()),
  /** The keep-awake lease in force, or null. */
  lease: keepAwakeLeaseSchema.nullable(),
  /** ISO time of the last poll, null before the first. */
  checkedAt: isoTime.nullable(),
});

export type IdleStatus = z.infer<typeof idleStatusSchema>;

/** Why the agent stopped the stack, in its last snapshot. `system`: systemd stopped it (shutdown, `down`, a schedule). */
export const SHUTDOWN_REASONS = ['idle', 'system'] as const;

export const shutdownSchema = z.object({
  reason: z.enum(SHUTDOWN_REASONS),
  /** ISO time the agent began stopping. */
  at: isoTime,
  /** e.g. `idle since 2026-12-01T03:00:00Z (60 min)`; for `system`, the signal. */
  detail: z.string(),
});

export type Shutdown = z.infer<typeof shutdownSchema>;
