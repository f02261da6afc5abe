import type { StatusSnapshot } from '../shared/status/snapshot.ts';
import type { InstanceInfo } from './aws/ec2.ts';
import type { LastStop } from './last-stop.ts';
import { formatTime } from './render/format.ts';

/** The backstop schedule as Terraform configured it (output stop_schedule). */
export interface StopSchedule {
  expression: string;
  timezone: string;
}

export type StopCauseKind = 'idle' | 'down' | 'schedule' | 'host' | 'other' | 'unknown';

export interface StopCause {
  kind: StopCauseKind;
  /** One line for the status screen: `stopped: idle since 2026-12-01 03:00:00 UTC …`. */
  text: string;
  /** When it stopped, as far as known (ISO). */
  at: string | null;
}

/** `User initiated (2026-12-01 02:00:03 GMT)` → epoch ms; null when EC2 gave no time. */
export function transitionTime(reason: string | null): number | null {
  const m = /\((\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) GMT\)/.exec(reason ?? '');
  return m ? Date.parse(`${m[1]}T${m[2]}Z`) : null;
}

const ANY = new Set(['*', '?']);

/**
 * Whether a stop at `atMs` is the schedule's: its local time in the schedule's zone falls
 * within the hour after a fire time (Scheduler retries for up to an hour). Only plain
 * `cron(M H …)` with numbers or lists in minutes and hours is understood; for the day
 * fields, `*`/`?` match any day and anything else is checked by the time of day only.
 */
export function matchesSchedule(s: StopSchedule, atMs: number): boolean {
  const m = /^cron\(\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(?:\s+(\S+))?\s*\)$/.exec(s.expression);
  if (!m) return false;
  const list = (f: string, max: number) =>
    ANY.has(f) ? [...Array(max).keys()] : f.split(',').map((x) => (/^\d+$/.test(x) ? Number(x) : Number.NaN));
  const minutes = list(m[1]!, 60);
  const hours = list(m[2]!, 24);
  if ([...minutes, ...hours].some(Number.isNaN)) return false;
  let local: number;
  try {
    const parts = new Intl.DateTimeFormat('en-GB', {
      timeZone: s.timezone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(new Date(atMs));
    const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
    local = get('hour') * 60 + get('minute');
  } catch {
    return false; // an unknown time zone: no claim
  }
  for (const h of hours) {
    for (const min of minutes) {
      const after = (local - (h * 60 + min) + 1440) % 1440;
      if (after < 60) return true;
    }
  }
  return false;
}

export interface StopCauseInputs {
  instance: InstanceInfo;
  snapshot: StatusSnapshot | null;
  lastStop: LastStop | null;
  schedule: StopSchedule | null;
}

/**
 * Pure: why a stopped (or stopping) instance stopped, by the strongest evidence first —
 * the agent's own final heartbeat (idle stop), the record `dalston-aws down` left, EC2's
 * reason for a power-off from inside, a stop at the backstop's fire time, else "something
 * else" with EC2's words. Evidence older than the last start belongs to an earlier run.
 */
export function explainStop(i: StopCauseInputs): StopCause | null {
  const state = i.instance.state;
  if (state !== 'stopped' && state !== 'stopping') return null;
  const launched = i.instance.launchTime?.getTime() ?? Number.NEGATIVE_INFINITY;
  const ec2At = transitionTime(i.instance.stateTransitionReason);
  const ec2AtIso = ec2At === null ? null : new Date(ec2At).toISOString();
  const when = (iso: string | null) => (iso ? ` at ${formatTime(iso)}` : '');

  const shutdown = i.snapshot?.shutdown;
  if (shutdown?.reason === 'idle' && Date.parse(shutdown.at) >= launched) {
    const since = i.snapshot?.idle?.since;
    const idle = since ? `idle since ${formatTime(since)}` : shutdown.detail;
    return {
      kind: 'idle',
      text: `stopped: ${idle} (the agent's idle stop${when(shutdown.at)})`,
      at: shutdown.at,
    };
  }
  if (i.lastStop && Date.parse(i.lastStop.at) >= launched) {
    return {
      kind: 'down',
      text: `stopped by \`dalston-aws down\` (${i.lastStop.operator})${when(i.lastStop.at)}`,
      at: i.lastStop.at,
    };
  }
  if (i.instance.stateReasonCode === 'Client.InstanceInitiatedShutdown') {
    const detail = shutdown?.reason === 'system' ? ` (agent: ${shutdown.detail})` : '';
    return {
      kind: 'host',
      text: `stopped: powered off from inside the host, not by the idle stop${detail}${when(ec2AtIso)}`,
      at: ec2AtIso,
    };
  }
  if (ec2At !== null && i.schedule && matchesSchedule(i.schedule, ec2At)) {
    return {
      kind: 'schedule',
      text: `stopped by the scheduled backstop (${i.schedule.expression} ${i.schedule.timezone})${when(ec2AtIso)}`,
      at: ec2AtIso,
    };
  }
  if (!i.instance.stateTransitionReason) {
    return { kind: 'unknown', text: 'stopped; EC2 gives no reason', at: null };
  }
  return {
    kind: 'other',
    text: `stopped by something else (not idle, not \`down\`, not the schedule): EC2 says "${i.instance.stateTransitionReason}"`,
    at: ec2AtIso,
  };
}
