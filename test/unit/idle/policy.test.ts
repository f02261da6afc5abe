import { describe, expect, it } from 'vitest';
import {
  decideIdle,
  describeIdle,
  FRESH_IDLE_MEMORY,
  type Hold,
  type IdleDecision,
  type IdleMemory,
  type IdleSettings,
} from '../../../agent/idle/policy.ts';
import type { SignalReading } from '../../../agent/idle/signals.ts';

const MIN = 60_000;
const SETTINGS: IdleSettings = {
  stopAfterMinutes: 60,
  bootGraceMinutes: 15,
  announceMinutes: 5,
  maxGapSeconds: 120,
};
const idle: SignalReading = {
  name: 'queue faster-whisper',
  state: 'idle',
  detail: '0 waiting, 0 in progress',
};
const busy: SignalReading = {
  name: 'queue faster-whisper',
  state: 'busy',
  detail: '1 waiting, 0 in progress',
};

interface Poll {
  at: number;
  signals?: SignalReading[];
  holds?: Hold[];
}

/** Polls in order from a fresh memory; returns every decision with its time. */
function run(polls: Poll[], settings = SETTINGS, bootedAt = 0) {
  let memory: IdleMemory = FRESH_IDLE_MEMORY;
  const out: { at: number; d: IdleDecision }[] = [];
  for (const p of polls) {
    const r = decideIdle(
      { now: p.at, bootedAt, signals: p.signals ?? [idle], holds: p.holds ?? [] },
      memory,
      settings,
    );
    memory = r.memory;
    out.push({ at: p.at, d: r.decision });
  }
  return out;
}

/** A poll every 30 s from `from` to `to` minutes, signals chosen by the minute. */
function every30s(
  from: number,
  to: number,
  signals: (minute: number) => SignalReading[] = () => [idle],
): Poll[] {
  const polls: Poll[] = [];
  for (let t = from * MIN; t <= to * MIN; t += 30_000) polls.push({ at: t, signals: signals(t / MIN) });
  return polls;
}

const firstStop = (out: { at: number; d: IdleDecision }[]) => out.find((o) => o.d.kind === 'stop')?.at;
const firstAnnounce = (out: { at: number; d: IdleDecision }[]) =>
  out.find((o) => o.d.kind === 'announce')?.at;

describe('idle policy (agent/idle/policy.ts)', () => {
  it('idle from boot: announced 5 min ahead, stops 60 min after the first idle poll, not before', () => {
    const out = run(every30s(0, 90));
    expect(firstAnnounce(out)).toBe(55 * MIN);
    expect(firstStop(out)).toBe(60 * MIN);
    expect(describeIdle(out.find((o) => o.at === 55 * MIN)!.d, 55 * MIN)).toBe(
      'idle 55 min — stopping in 5 min',
    );
  });

  it('bursty jobs: every burst starts the count again, the stop comes 60 min after the last one', () => {
    const bursts = [10, 40, 75];
    const out = run(every30s(0, 200, (m) => (bursts.some((b) => m >= b && m < b + 3) ? [busy] : [idle])));
    expect(firstStop(out)).toBe((75 + 3 + 60) * MIN);
    expect(out.filter((o) => o.d.kind === 'stop')[0]!.d).toEqual({ kind: 'stop', since: 78 * MIN });
  });

  it('a job arriving during the announcement cancels the stop, and says so', () => {
    const out = run(every30s(0, 200, (m) => (m >= 57 && m < 58 ? [busy] : [idle])));
    const cancel = out.find((o) => o.at === 57 * MIN)!.d;
    expect(cancel).toMatchObject({ kind: 'busy', cancelledStop: true });
    expect(firstStop(out)).toBe((58 + 60) * MIN);
  });

  it('a stuck pending entry keeps it busy until the signal reports it stuck', () => {
    // The signal adapter turns a pending entry older than stuckPendingMinutes into "stuck (ignored)".
    const out = run(every30s(0, 600, (m) => (m < 360 ? [busy] : [idle])));
    expect(firstStop(out)).toBe((360 + 60) * MIN);
  });

  it('a realtime session open for hours keeps it up the whole time', () => {
    const session: SignalReading = { name: 'realtime sessions', state: 'busy', detail: '1' };
    const out = run(every30s(0, 300, (m) => (m < 240 ? [idle, session] : [idle])));
    expect(out.filter((o) => o.at < 240 * MIN).every((o) => o.d.kind === 'busy')).toBe(true);
    expect(firstStop(out)).toBe(300 * MIN);
  });

  it('an unreadable Redis counts as busy and is reported as unreadable', () => {
    const down: SignalReading = { name: 'redis', state: 'unreadable', detail: 'connect ECONNREFUSED' };
    const out = run(every30s(0, 200, () => [down]));
    expect(out.every((o) => o.d.kind === 'busy')).toBe(true);
    expect(out[0]!.d).toMatchObject({ reasons: ['redis: unreadable (connect ECONNREFUSED)'] });
    expect(run([{ at: 0, signals: [] }])[0]!.d).toMatchObject({ kind: 'busy' });
  });

  it('clock jumps: backwards or a long gap starts the count again; unobserved time never counts as idle', () => {
    // 50 idle minutes, then the clock jumps back 30 min: 60 more minutes from there.
    const back = run([...every30s(0, 50), ...every30s(20, 120)]);
    expect(firstStop(back)).toBe(80 * MIN);
    // 50 idle minutes, then nothing for 3 hours (suspended, or polls hung): no immediate stop after it.
    const gap = run([...every30s(0, 50), ...every30s(230, 320)]);
    expect(firstStop(gap)).toBe(290 * MIN);
  });

  it('never within the boot grace, however short the idle window', () => {
    const out = run(every30s(0, 60), { ...SETTINGS, stopAfterMinutes: 2, bootGraceMinutes: 15 });
    expect(firstStop(out)).toBe(15 * MIN);
    expect(out.find((o) => o.at === 5 * MIN)!.d).toMatchObject({ kind: 'idle', heldBy: ['boot grace'] });
  });

  it('a keep-awake lease holds the stop until it ends, without resetting the idle count', () => {
    const lease: Hold = {
      kind: 'lease',
      detail: 'kept awake until 04:00 by dalston-aws up --for 4h',
      until: 240 * MIN,
    };
    const out = run(every30s(0, 300).map((p) => ({ ...p, holds: [lease] })));
    expect(firstAnnounce(out)).toBe(235 * MIN);
    expect(firstStop(out)).toBe(240 * MIN);
    expect(out.find((o) => o.at === 100 * MIN)!.d).toMatchObject({ kind: 'idle', heldBy: [lease.detail] });
  });

  it('maintenance (a backup) is work: the idle count starts after it', () => {
    const backup: Hold = { kind: 'maintenance', detail: 'backup running' };
    const out = run(
      every30s(0, 200).map((p) => (p.at >= 50 * MIN && p.at < 70 * MIN ? { ...p, holds: [backup] } : p)),
    );
    expect(firstStop(out)).toBe(130 * MIN);
    expect(out.find((o) => o.at === 60 * MIN)!.d).toMatchObject({
      kind: 'busy',
      reasons: ['backup running'],
    });
  });

  it('the first poll past the due time announces and waits the whole warning before stopping', () => {
    // Polls every 40 min: the second lands past the announcement window.
    const out = run(
      [0, 40, 80, 120].map((m) => ({ at: m * MIN })),
      { ...SETTINGS, maxGapSeconds: 3600 },
    );
    expect(out.map((o) => o.d.kind)).toEqual(['idle', 'idle', 'announce', 'stop']);
    expect(out[2]!.d).toMatchObject({ stopAt: 85 * MIN });
  });

  it('0 disables it entirely', () => {
    const out = run(every30s(0, 600), { ...SETTINGS, stopAfterMinutes: 0 });
    expect(out.every((o) => o.d.kind === 'disabled')).toBe(true);
  });
});
