import type { SignalReading } from './signals.ts';

/**
 * When the host may stop itself. Pure: the signals read now, what is holding
 * the host up, the clock and the memory of earlier polls go in; a decision and
 * the new memory come out. The agent does the IO (reading, announcing,
 * stopping) around it.
 *
 * Rules, each because stopping wrongly loses someone's work and staying up
 * wrongly only costs money:
 * - idle only when every signal reads idle; an unreadable signal is busy;
 * - idle time counts only across observed polls: a clock jump backwards or a
 *   gap longer than `maxGapSeconds` (suspend, a hung poll) starts the count again;
 * - maintenance (backup, restore, convergence) is work: it resets the count;
 * - a keep-awake lease and the boot grace period only hold the stop back, so a
 *   host idle through its whole lease stops when the lease ends;
 * - the stop is announced `announceMinutes` ahead and happens only on a later
 *   poll that still finds everything idle; any work in between cancels it.
 */

export interface IdleSettings {
  /** 0 disables idle stop. */
  stopAfterMinutes: number;
  bootGraceMinutes: number;
  announceMinutes: number;
  maxGapSeconds: number;
}

export interface IdleMemory {
  idleSince: number | null;
  lastPollAt: number | null;
  announcedAt: number | null;
}

export const FRESH_IDLE_MEMORY: IdleMemory = { idleSince: null, lastPollAt: null, announcedAt: null };

export interface Hold {
  kind: 'maintenance' | 'lease';
  detail: string;
  /** Epoch ms the hold ends (a lease); maintenance holds while it runs. */
  until?: number;
}

export interface IdleInput {
  now: number;
  bootedAt: number;
  signals: readonly SignalReading[];
  holds: readonly Hold[];
}

export type IdleDecision =
  | { kind: 'disabled' }
  | { kind: 'busy'; reasons: string[]; cancelledStop: boolean }
  | { kind: 'idle'; since: number; stopAt: number; heldBy: string[] }
  | { kind: 'announce'; since: number; stopAt: number }
  | { kind: 'stop'; since: number };

export function decideIdle(
  input: IdleInput,
  memory: IdleMemory,
  settings: IdleSettings,
): { decision: IdleDecision; memory: IdleMemory } {
  const { now } = input;
  if (settings.stopAfterMinutes <= 0) return { decision: { kind: 'disabled' }, memory: FRESH_IDLE_MEMORY };

  const busy = (reasons: string[]) => ({
    decision: { kind: 'busy' as const, reasons, cancelledStop: memory.announcedAt !== null },
    memory: { idleSince: null, lastPollAt: now, announcedAt: null },
  });

  const working = input.signals.filter((s) => s.state !== 'idle');
  const maintenance = input.holds.filter((h) => h.kind === 'maintenance');
  if (input.signals.length === 0) return busy(['no idle signal could be read']);
  if (working.length > 0 || maintenance.length > 0)
    return busy([
      ...working.map((s) =>
        s.state === 'busy' ? `${s.name}: ${s.detail}` : unreadableReason(s.name, s.detail),
      ),
      ...maintenance.map((h) => h.detail),
    ]);

  const unobserved =
    memory.lastPollAt === null ||
    now < memory.lastPollAt ||
    now - memory.lastPollAt > settings.maxGapSeconds * 1000;
  const since = unobserved || memory.idleSince === null ? now : memory.idleSince;

  const leases = input.holds.filter((h) => h.kind === 'lease' && (h.until ?? 0) > now);
  const graceEnd = input.bootedAt + settings.bootGraceMinutes * 60_000;
  const heldUntil = Math.max(graceEnd, ...leases.map((h) => h.until ?? 0));
  const due = Math.max(since + settings.stopAfterMinutes * 60_000, heldUntil);
  const announceMs = settings.announceMinutes * 60_000;
  // A stop announced earlier keeps its time unless the rules now say later;
  // an announcement never shortens the warning it gave.
  const announcedAt = unobserved ? null : memory.announcedAt;
  const stopAt = announcedAt === null ? due : Math.max(due, announcedAt + announceMs);
  const next: IdleMemory = { idleSince: since, lastPollAt: now, announcedAt };

  if (now < stopAt - announceMs) {
    const heldBy = [
      ...(graceEnd > since + settings.stopAfterMinutes * 60_000 && graceEnd > now ? ['boot grace'] : []),
      ...leases.map((h) => h.detail),
    ];
    return { decision: { kind: 'idle', since, stopAt, heldBy }, memory: { ...next, announcedAt: null } };
  }
  if (announcedAt === null) {
    // First poll inside the window: announce, and give the whole warning from now.
    const at = Math.max(stopAt, now + announceMs);
    return { decision: { kind: 'announce', since, stopAt: at }, memory: { ...next, announcedAt: now } };
  }
  if (now < stopAt) return { decision: { kind: 'announce', since, stopAt }, memory: next };
  return { decision: { kind: 'stop', since }, memory: next };
}

/** A busy reason for a signal that could not be read; the metrics count them by isUnreadableReason. */
export const unreadableReason = (name: string, detail: string): string => `${name}: unreadable (${detail})`;
export const isUnreadableReason = (reason: string): boolean => /^[^:]+: unreadable \(/.test(reason);

/** The one-line summary for /status and `systemctl status`: `idle 55 min — stopping in 5 min`. */
export function describeIdle(d: IdleDecision, now: number): string {
  const min = (ms: number) => `${Math.max(0, Math.round(ms / 60_000))} min`;
  switch (d.kind) {
    case 'disabled':
      return 'idle stop off';
    case 'busy':
      return `busy (${d.reasons[0] ?? 'working'}${d.reasons.length > 1 ? ` +${d.reasons.length - 1}` : ''})`;
    case 'idle':
      return `idle ${min(now - d.since)}${d.heldBy.length ? ` (held: ${d.heldBy.join(', ')})` : ''}`;
    case 'announce':
      return `idle ${min(now - d.since)} — stopping in ${min(d.stopAt - now)}`;
    case 'stop':
      return `idle ${min(now - d.since)} — stopping now`;
  }
}
