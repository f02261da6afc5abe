import { describe, expect, it } from 'vitest';
import {
  HEAL_MEMORY_FORMAT,
  parseMemory,
  serializeMemory,
} from '../../../agent/supervisor/heal-memory-store.ts';
import { freshMemory, type ServiceMemory } from '../../../agent/supervisor/policy.ts';
import { testPolicy } from './fakes.ts';

const NOW = Date.UTC(2026, 0, 1);

function spent(): ServiceMemory {
  return {
    ...freshMemory(testPolicy),
    actionTimes: [NOW - 60_000, NOW - 30_000, NOW - 1_000],
    backoffMs: 80_000,
    notBefore: NOW + 36_000,
    okSince: NOW - 500,
    circuitOpenedAt: NOW - 1_000,
    agentRestarts: 7,
    lastAction: { action: 'restart', reason: 'running but unhealthy', at: NOW - 1_000 },
    inFlight: {
      action: 'restart',
      at: NOW - 1_000,
      before: { actionTimes: [], notBefore: 0, backoffMs: 10_000, agentRestarts: 6, lastAction: null },
    },
  };
}

describe('healing memory file (pure)', () => {
  it('round-trips budget, backoff and circuit; an action in flight stays charged, okSince starts again', () => {
    const text = serializeMemory('dalston', new Map([['redis', spent()]]), NOW);
    expect(JSON.parse(text)).toMatchObject({ format: HEAL_MEMORY_FORMAT, project: 'dalston' });
    const r = parseMemory(text, 'dalston', NOW + 5_000, testPolicy);
    expect(r.kind).toBe('ok');
    const m = r.kind === 'ok' ? r.memory.get('redis')! : null;
    const { okSince: _o, inFlight: _i, ...kept } = spent();
    expect(m).toEqual({ ...kept, okSince: null, inFlight: null });
  });

  it('brings times a wrong clock put in the future back within the policy limits', () => {
    const text = serializeMemory('dalston', new Map([['redis', spent()]]), NOW);
    // Read an hour "earlier" (the clock was wrong when it was written).
    const then = NOW - 3_600_000;
    const r = parseMemory(text, 'dalston', then, testPolicy);
    const m = r.kind === 'ok' ? r.memory.get('redis')! : null;
    expect(m!.actionTimes.every((t) => t <= then)).toBe(true);
    expect(m!.circuitOpenedAt).toBe(then);
    expect(m!.notBefore).toBeLessThanOrEqual(then + testPolicy.backoffMaxMs);
  });

  it.each([
    ['garbage', '{"format": 1, "proj', /not JSON/],
    ['empty', '', /not JSON/],
    [
      'another format',
      JSON.stringify({ format: 0, project: 'dalston', services: {} }),
      /format 0, this agent reads 1/,
    ],
    ['no format', JSON.stringify({ services: {} }), /format undefined/],
    [
      'a wrong field',
      JSON.stringify({
        format: 1,
        project: 'dalston',
        savedAt: 'x',
        services: { redis: { actionTimes: 'soon' } },
      }),
      /wrong shape at services\.redis\.actionTimes/,
    ],
    [
      'another project',
      serializeMemory('other', new Map([['redis', spent()]]), NOW),
      /written for compose project other, not dalston/,
    ],
  ])('%s → unusable, with the reason', (_name, text, reason) => {
    const r = parseMemory(text, 'dalston', NOW, testPolicy);
    expect(r.kind).toBe('unusable');
    expect(r.kind === 'unusable' && r.reason).toMatch(reason);
  });
});
