/**
 * What the idle policy reads: one reading per signal, each idle, busy or
 * unreadable. The adapters (redis-signals.ts) turn Dalston's queue state into
 * these; the pure helpers here hold the rules for each kind of signal so they
 * are tested without a server.
 */

export type SignalState = 'idle' | 'busy' | 'unreadable';

export interface SignalReading {
  /** Stable name, e.g. `queue faster-whisper`, `realtime sessions`, `engine whisper-1`. */
  name: string;
  state: SignalState;
  /** Why, for /status and the logs: `3 waiting, 1 in progress`. */
  detail: string;
}

/** A consumer group as XINFO GROUPS reports it. */
export interface GroupInfo {
  pending: number;
  /** null when Redis cannot tell (the stream was trimmed or entries were deleted). */
  lag: number | null;
  lastDeliveredId: string;
}

/**
 * A Dalston work stream (`dalston:stream:<engine>` read by group `engines`,
 * `dalston:events:stream` by `orchestrators`). Idle only when nothing is
 * waiting (lag 0, or no entry after the last delivered one when lag is
 * unknown) and nothing is in progress. Entries pending longer than the stuck
 * limit are a crashed consumer's leftovers: reported, but they do not keep
 * the host awake forever.
 */
export function streamReading(
  name: string,
  s: {
    group: GroupInfo | null;
    groupName: string;
    /** Entries after the group's last delivered id (only read when lag is null), or in the stream when there is no group. */
    undelivered: number | null;
    /** Pending entries idle longer than the stuck limit. */
    stuckPending: number;
  },
): SignalReading {
  if (!s.group) {
    // No consumer group yet: its engine never started. Entries there are work nobody has taken.
    if (s.undelivered === null) return { name, state: 'unreadable', detail: `no group ${s.groupName}` };
    return s.undelivered > 0
      ? { name, state: 'busy', detail: `${s.undelivered} waiting, no consumer group ${s.groupName} yet` }
      : { name, state: 'idle', detail: 'empty' };
  }
  const waiting = s.group.lag ?? s.undelivered;
  if (waiting === null) return { name, state: 'unreadable', detail: 'lag unknown' };
  const inProgress = Math.max(0, s.group.pending - s.stuckPending);
  const parts = [`${waiting} waiting`, `${inProgress} in progress`];
  if (s.stuckPending > 0) parts.push(`${s.stuckPending} stuck pending (ignored)`);
  return { name, state: waiting > 0 || inProgress > 0 ? 'busy' : 'idle', detail: parts.join(', ') };
}

/** A set of live work (`dalston:waiting_engine_tasks`, `dalston:realtime:sessions:active`). */
export function countReading(name: string, count: number | null): SignalReading {
  if (count === null) return { name, state: 'unreadable', detail: 'not readable' };
  return { name, state: count > 0 ? 'busy' : 'idle', detail: String(count) };
}

/** An engine's heartbeat hash (`dalston:engine:instance:<id>`): busy while it has work in hand. */
export function engineReading(id: string, hash: Record<string, unknown>): SignalReading {
  const name = `engine ${id}`;
  const num = (k: string) => {
    const v = Number(hash[k] ?? 0);
    return Number.isFinite(v) ? v : Number.NaN;
  };
  const batch = num('active_batch');
  const realtime = num('active_realtime');
  if (Number.isNaN(batch) || Number.isNaN(realtime))
    return { name, state: 'unreadable', detail: `odd heartbeat ${JSON.stringify(hash)}` };
  const detail = `${batch} batch, ${realtime} realtime${hash.status ? `, ${String(hash.status)}` : ''}`;
  return { name, state: batch > 0 || realtime > 0 ? 'busy' : 'idle', detail };
}
