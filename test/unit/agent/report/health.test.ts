import { describe, expect, it } from 'vitest';
import { evaluateHealth, type HealthInputs } from '../../../../agent/report/health.ts';

const now = 1_000_000;
const base: HealthInputs = {
  dockerConnected: true,
  eventsConnected: true,
  eventsDisconnectedSince: null,
  lastReconcileAt: now - 5_000,
  reconcileIntervalSeconds: 30,
  now,
};

describe('evaluateHealth', () => {
  it('is ok when docker answers, events flow and the last reconcile is recent', () => {
    expect(evaluateHealth(base)).toEqual({ ok: true, failing: [] });
  });

  it('names docker when the daemon does not answer', () => {
    const v = evaluateHealth({ ...base, dockerConnected: false });
    expect(v.ok).toBe(false);
    expect(v.failing).toEqual(['docker: the daemon does not answer']);
  });

  it('tolerates a reconnecting event stream for less than 30 s', () => {
    expect(
      evaluateHealth({ ...base, eventsConnected: false, eventsDisconnectedSince: now - 29_999 }).ok,
    ).toBe(true);
  });

  it('fails once the event stream has been reconnecting for 30 s', () => {
    const v = evaluateHealth({
      ...base,
      eventsConnected: false,
      eventsDisconnectedSince: new Date(now - 30_000),
    });
    expect(v.ok).toBe(false);
    expect(v.failing).toEqual([
      'events: the Docker event stream has been reconnecting for 30 s (limit 30 s)',
    ]);
  });

  it('fails when the event stream is down with no start time known', () => {
    const v = evaluateHealth({ ...base, eventsConnected: false, eventsDisconnectedSince: null });
    expect(v.failing).toEqual(['events: the Docker event stream is not connected']);
  });

  it('fails when the last reconcile is two intervals old, not before', () => {
    expect(evaluateHealth({ ...base, lastReconcileAt: now - 59_999 }).ok).toBe(true);
    const v = evaluateHealth({ ...base, lastReconcileAt: now - 60_000 });
    expect(v.failing).toEqual(['reconcile: the last reconcile finished 60 s ago (limit 60 s)']);
  });

  it('fails before the first reconcile', () => {
    expect(evaluateHealth({ ...base, lastReconcileAt: null }).failing).toEqual([
      'reconcile: no reconcile has completed yet',
    ]);
  });

  it('lists every failing condition', () => {
    const v = evaluateHealth({
      ...base,
      dockerConnected: false,
      eventsConnected: false,
      eventsDisconnectedSince: now - 90_000,
      lastReconcileAt: now - 600_000,
      now: new Date(now),
    });
    expect(v.failing.map((f) => f.split(':')[0])).toEqual(['docker', 'events', 'reconcile']);
  });
});
