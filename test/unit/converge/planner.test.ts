import { describe, expect, it } from 'vitest';
import { type Attempt, keepHistory, type PlanInput, planNext } from '../../../converge/planner.ts';
import type { HostVersions } from '../../../shared/desired/desired-state.ts';

const running: HostVersions = {
  release: '0.2.0',
  dalstonRef: 'v1.2.3',
  imageTag: '1.2.3',
  services: ['gateway', 'postgres'],
};
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  running,
  desired: running,
  desiredVersion: 'etag-2',
  hostSettingsChanged: [],
  history: [],
  ...over,
});
const attempt = (kind: Attempt['kind'], outcome: Attempt['outcome'], desiredVersion = 'etag-2'): Attempt => ({
  kind,
  outcome,
  desiredVersion,
  message: `${kind} ${outcome}`,
});
const newDalston = { ...running, dalstonRef: 'v1.3.0', imageTag: '1.3.0' };
const everything: Partial<PlanInput> = {
  desired: { ...newDalston, release: '0.3.0' },
  hostSettingsChanged: ['agent.listen'],
};

describe('planNext', () => {
  it('is converged when nothing differs', () => {
    expect(planNext(input())).toEqual({ kind: 'converged' });
  });

  it('takes one step at a time in order: release, then host settings, then Dalston', () => {
    expect(planNext(input(everything))).toMatchObject({
      kind: 'apply',
      step: 'release',
      detail: 'release 0.2.0 → 0.3.0',
    });
    const afterRelease = input({
      ...everything,
      running: { ...running, release: '0.3.0' },
      history: [attempt('release', 'applied')],
    });
    expect(planNext(afterRelease)).toMatchObject({
      kind: 'apply',
      step: 'host-settings',
      detail: 'host settings: agent.listen',
    });
    const afterSettings = input({
      ...afterRelease,
      hostSettingsChanged: [],
      history: [attempt('release', 'applied'), attempt('host-settings', 'applied')],
    });
    expect(planNext(afterSettings)).toMatchObject({
      kind: 'apply',
      step: 'dalston',
      detail: 'dalston ref v1.2.3 → v1.3.0, image 1.2.3 → 1.3.0',
    });
  });

  it('sees a change of the service list alone as a Dalston change', () => {
    const p = planNext(input({ desired: { ...running, services: ['postgres', 'gateway', 'orchestrator'] } }));
    expect(p).toMatchObject({
      kind: 'apply',
      step: 'dalston',
      detail: 'dalston services gateway,postgres → gateway,orchestrator,postgres',
    });
    // The same services in another order are no change.
    expect(planNext(input({ desired: { ...running, services: ['postgres', 'gateway'] } }))).toEqual({
      kind: 'converged',
    });
  });

  describe('rollback branches: never retried until the desired state changes', () => {
    for (const kind of ['release', 'host-settings', 'dalston'] as const) {
      for (const outcome of ['rolled-back', 'failed'] as const) {
        it(`${kind} ${outcome}: held, and nothing after it runs`, () => {
          const earlier = (['release', 'host-settings', 'dalston'] as const).slice(
            0,
            ['release', 'host-settings', 'dalston'].indexOf(kind),
          );
          const p = planNext(
            input({
              // Still differs after the failure: what ran before it was applied.
              ...everything,
              running: { ...running, release: kind === 'release' ? '0.2.0' : '0.3.0' },
              hostSettingsChanged: kind === 'dalston' ? [] : ['agent.listen'],
              history: [...earlier.map((k) => attempt(k, 'applied')), attempt(kind, outcome)],
            }),
          );
          expect(p).toMatchObject({ kind: 'held', step: kind, attempt: { kind, outcome } });
          if (p.kind === 'held') expect(p.detail).toContain('not retried until the desired state changes');
        });

        it(`${kind} ${outcome} for an earlier desired state: tried again once the desired state changed`, () => {
          const p = planNext(
            input({
              ...everything,
              history: [attempt(kind, outcome, 'etag-1')],
              running: { ...running, release: kind === 'release' ? '0.2.0' : '0.3.0' },
              hostSettingsChanged: kind === 'dalston' ? [] : ['agent.listen'],
            }),
          );
          expect(p).toMatchObject({ kind: 'apply', step: kind });
        });
      }
    }

    it('a Dalston change that failed after migrating (the new version runs) is held, not called converged', () => {
      const p = planNext(
        input({ running: newDalston, desired: newDalston, history: [attempt('dalston', 'failed')] }),
      );
      expect(p).toMatchObject({ kind: 'held', step: 'dalston', attempt: { outcome: 'failed' } });
    });

    it('a failed release holds the Dalston change behind it', () => {
      const p = planNext(
        input({ desired: { ...newDalston, release: '0.3.0' }, history: [attempt('release', 'rolled-back')] }),
      );
      expect(p).toMatchObject({ kind: 'held', step: 'release' });
    });
  });

  it('a step applied for this desired state that still differs is held instead of looping', () => {
    const p = planNext(
      input({ desired: { ...running, release: '0.3.0' }, history: [attempt('release', 'applied')] }),
    );
    expect(p).toMatchObject({ kind: 'held', step: 'release' });
    if (p.kind === 'held') expect(p.detail).toContain('still differs (release 0.2.0 → 0.3.0)');
  });

  it('keeps only the attempts of the current desired state', () => {
    const h = [attempt('dalston', 'failed', 'etag-1'), attempt('release', 'applied', 'etag-2')];
    expect(keepHistory(h, 'etag-2')).toEqual([h[1]]);
  });
});
