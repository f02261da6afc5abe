import { describe, expect, it } from 'vitest';
import { plan } from '../../../agent/supervisor/planner.ts';
import {
  BRING_UP_NOT_STARTED,
  bringUpRetry,
  commitAction,
  freshMemory,
  healBackoff,
  refundAction,
  type ServiceMemory,
  settleAction,
} from '../../../agent/supervisor/policy.ts';
import { Backoff } from '../../../shared/time/backoff.ts';
import { container, testPolicy } from './fakes.ts';

const T0 = 50_000_000;
const restart = { kind: 'restart' as const, service: 'api', reason: 'running but unhealthy' };

/** A service that has been healed before, with its backoff at the cap. */
function experienced(): ServiceMemory {
  return {
    ...freshMemory(testPolicy),
    actionTimes: [T0 - 60_000],
    backoffMs: testPolicy.backoffMaxMs,
    notBefore: T0 - 1_000,
    agentRestarts: 4,
    lastAction: { action: 'restart', reason: 'running but unhealthy', at: T0 - 60_000 },
  };
}

describe('commitAction and refundAction', () => {
  it('charges budget, backoff and counters, with the jitter drawn from the given random', () => {
    const m = commitAction(freshMemory(testPolicy), restart, T0, testPolicy, () => 0.5);
    expect(m).toMatchObject({
      actionTimes: [T0],
      notBefore: T0 + 9_000, // 10 s · (1 − 0.2 · 0.5)
      backoffMs: 20_000,
      agentRestarts: 1,
      lastAction: { action: 'restart', reason: 'running but unhealthy', at: T0 },
    });
  });

  it('a refund gives back exactly the memory from before the commit (backoff at its cap, earlier action kept)', () => {
    const before = experienced();
    const committed = commitAction(before, restart, T0, testPolicy, () => 0.3);
    expect(committed.backoffMs).toBe(testPolicy.backoffMaxMs);
    expect(refundAction(committed, restart)).toEqual(before);
  });

  it('a settled action keeps its charge, and a refund after it changes nothing', () => {
    const committed = commitAction(experienced(), restart, T0, testPolicy, () => 0);
    const settled = settleAction(committed, restart);
    expect(settled).toEqual({ ...committed, inFlight: null });
    expect(refundAction(settled, restart)).toBe(settled);
    expect(refundAction(committed, { ...restart, kind: 'recreate' })).toBe(committed);
  });

  it('keeps the refund through plan rounds while the action is queued, and settles a stale one', () => {
    const c = container({ service: 'api', health: 'unhealthy' });
    const input = {
      services: ['api'],
      containers: [c],
      graph: new Map<string, string[]>(),
      policy: testPolicy,
      random: () => 0.5,
    };
    const p1 = plan({ ...input, now: T0, memory: new Map(), busy: new Set() });
    expect(p1.decisions).toHaveLength(1);
    const queued = plan({ ...input, now: T0 + 10, memory: p1.memory, busy: new Set(['api']) });
    expect(queued.memory.get('api')!.inFlight).not.toBeNull();
    expect(refundAction(queued.memory.get('api')!, restart)).toMatchObject({
      actionTimes: [],
      agentRestarts: 0,
      lastAction: null,
    });
    // Not queued any more and never settled (e.g. memory read back after the agent stopped): it stays charged.
    const stale = plan({ ...input, now: T0 + 20, memory: p1.memory, busy: new Set() });
    expect(stale.memory.get('api')).toMatchObject({ inFlight: null, agentRestarts: 1 });
  });

  it('memory is plain data: it survives a JSON round trip', () => {
    const m = commitAction(experienced(), restart, T0, testPolicy, () => 0.1);
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });
});

describe('bringUpRetry', () => {
  const backoff = healBackoff(testPolicy); // 10 s doubling to 300 s, jitter 0.2

  it('retries failed attempts at the growing, jittered backoff and stops once up', () => {
    let s = BRING_UP_NOT_STARTED;
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = bringUpRetry(s, 'failed', T0, backoff, () => 0);
      s = r.state;
      waits.push(r.retryAt! - T0);
    }
    expect(waits).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
    expect(s).toEqual({ done: false, failing: true, failures: 7 });
    expect(bringUpRetry(s, 'failed', T0, backoff, () => 0.5).retryAt).toBe(T0 + 270_000);
    expect(bringUpRetry(s, 'up', T0, backoff, () => 0)).toEqual({
      state: { done: true, failing: false, failures: 0 },
      retryAt: null,
    });
  });

  it('uses whichever backoff it is given', () => {
    const fixed = new Backoff({ initialMs: 1_000, maxMs: 1_000 });
    expect(bringUpRetry(BRING_UP_NOT_STARTED, 'failed', 0, fixed, Math.random).retryAt).toBe(1_000);
  });
});
