import type { DockerEvent } from './types.ts';

/** Container actions the agent reacts to. health_status arrives as `health_status: <state>`. */
export const WATCHED_ACTIONS = ['start', 'die', 'oom', 'destroy', 'health_status'] as const;

/** The daemon-side filter for one compose project's container events. */
export function eventFilters(project: string): Record<string, string[]> {
  return {
    type: ['container'],
    label: [`com.docker.compose.project=${project}`],
    event: [...WATCHED_ACTIONS],
  };
}

/**
 * Reads only Action, Actor.ID, Actor.Attributes and time/timeNano from one
 * decoded event (the legacy `status`/`id` fields are gone in Engine 29).
 * Returns null for anything that is not a watched container event.
 */
export function toDockerEvent(raw: unknown): DockerEvent | null {
  if (raw === null || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const action = typeof r.Action === 'string' ? r.Action : null;
  const actor = r.Actor && typeof r.Actor === 'object' ? (r.Actor as Record<string, unknown>) : null;
  const id = actor && typeof actor.ID === 'string' ? actor.ID : null;
  if (!action || !id) return null;
  if (r.Type !== undefined && r.Type !== 'container') return null;
  const base = action.split(':')[0]!.trim();
  if (!(WATCHED_ACTIONS as readonly string[]).includes(base)) return null;
  const attributes: Record<string, string> = {};
  if (actor?.Attributes && typeof actor.Attributes === 'object') {
    for (const [k, v] of Object.entries(actor.Attributes as Record<string, unknown>)) {
      if (typeof v === 'string') attributes[k] = v;
    }
  }
  return { action, containerId: id, attributes, timeNano: eventTimeNano(r) };
}

function eventTimeNano(r: Record<string, unknown>): bigint {
  if (typeof r.timeNano === 'number' && Number.isFinite(r.timeNano)) {
    // Above 2^53 a JSON number loses its last digits; microsecond precision is plenty.
    return BigInt(Math.trunc(r.timeNano));
  }
  if (typeof r.time === 'number' && Number.isFinite(r.time))
    return BigInt(Math.trunc(r.time)) * 1_000_000_000n;
  return BigInt(Date.now()) * 1_000_000n;
}

/** The `health_status: unhealthy` suffix, or null for other actions. */
export function healthOf(e: DockerEvent): string | null {
  if (!e.action.startsWith('health_status')) return null;
  const rest = e.action.slice('health_status'.length).replace(/^:\s*/, '').trim();
  return rest === '' ? null : rest;
}

/** Docker's `since` accepts `seconds.nanoseconds`. */
export function sinceParam(timeNano: bigint): string {
  const s = timeNano / 1_000_000_000n;
  const ns = timeNano % 1_000_000_000n;
  return `${s}.${ns.toString().padStart(9, '0')}`;
}
