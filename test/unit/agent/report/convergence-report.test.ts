import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../../agent/report/metrics.ts';
import { statusLine } from '../../../../agent/report/status-line.ts';
import { reportedConvergence } from '../../../../agent/status/convergence-watch.ts';
import type { ConvergenceStatus } from '../../../../shared/desired/convergence-status.ts';
import { snapshot } from './fixtures.ts';

const running = { release: '0.2.0', dalstonRef: 'v1.2.3', imageTag: '1.2.3', services: [] };
const desired = { ...running, dalstonRef: 'v1.3.0', imageTag: '1.3.0' };
const conv = (over: Partial<ConvergenceStatus>): ConvergenceStatus => ({
  state: 'converged',
  running,
  desired: running,
  desiredVersion: '"e1"',
  checkedAt: '2026-01-01T00:00:00.000Z',
  step: null,
  summary: 'running the desired state',
  lastResult: null,
  problem: null,
  ...over,
});
const result = (outcome: 'applied' | 'rolled-back' | 'failed') => ({
  kind: 'dalston' as const,
  outcome,
  message: 'dalston v1.3.0 failed health; rolled back to v1.2.3',
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:02:00.000Z',
});

describe('convergence in the status line', () => {
  it('says nothing when converged', () => {
    expect(statusLine(snapshot({ convergence: conv({}) }))).toBe('healthy 6/6 · /data 12% · gateway ok');
  });
  it('shows the change in progress', () => {
    const s = snapshot({ convergence: conv({ state: 'converging', step: 'dalston', desired }) });
    expect(statusLine(s)).toBe('healthy 6/6 · converging dalston v1.3.0 · /data 12% · gateway ok');
    const r = snapshot({
      convergence: conv({ state: 'converging', step: 'release', desired: { ...running, release: '0.3.0' } }),
    });
    expect(statusLine(r)).toBe('healthy 6/6 · converging release 0.3.0 · /data 12% · gateway ok');
  });
  it('shows a rollback and a failure loudly', () => {
    const rb = snapshot({
      convergence: conv({ state: 'rolled-back', desired, lastResult: result('rolled-back') }),
    });
    expect(statusLine(rb)).toBe('healthy 6/6 · ROLLED BACK dalston v1.3.0 · /data 12% · gateway ok');
    const f = snapshot({ convergence: conv({ state: 'failed', desired, lastResult: result('failed') }) });
    expect(statusLine(f)).toBe('healthy 6/6 · dalston v1.3.0 FAILED · /data 12% · gateway ok');
  });
});

describe('convergence metrics', () => {
  it('state set, in-sync, versions and the last result', async () => {
    const m = new AgentMetrics({ processMetrics: false });
    m.observeSnapshot(
      snapshot({ convergence: conv({ state: 'rolled-back', desired, lastResult: result('rolled-back') }) }),
    );
    const text = await m.render();
    expect(text).toContain('dalston_convergence_state{state="rolled-back"} 1');
    expect(text).toContain('dalston_convergence_state{state="converged"} 0');
    expect(text).toContain('dalston_convergence_in_sync 0');
    expect(text).toContain(
      'dalston_convergence_versions_info{side="running",release="0.2.0",dalston_ref="v1.2.3",image_tag="1.2.3"} 1',
    );
    expect(text).toContain(
      'dalston_convergence_versions_info{side="desired",release="0.2.0",dalston_ref="v1.3.0",image_tag="1.3.0"} 1',
    );
    expect(text).toContain('dalston_convergence_last_result{kind="dalston",outcome="rolled-back"} 1');
    expect(text).toContain(
      `dalston_convergence_last_result_timestamp_seconds ${Date.parse('2026-01-01T00:02:00.000Z') / 1000}`,
    );

    m.observeSnapshot(snapshot({ convergence: conv({}) }));
    const after = await m.render();
    expect(after).toContain('dalston_convergence_in_sync 1');
    expect(after).not.toContain('side="desired",release="0.2.0",dalston_ref="v1.3.0"');
  });
});

describe('reportedConvergence', () => {
  it('before any sync: unknown, the agent’s own versions, nothing desired', () => {
    expect(reportedConvergence(null, running)).toMatchObject({
      state: 'unknown',
      running,
      desired: null,
      desiredVersion: null,
    });
  });
  it('reports the release the agent runs, whatever the record says', () => {
    const r = reportedConvergence(conv({ running: { ...running, release: '0.1.0' } }), {
      ...running,
      release: '0.2.0',
    });
    expect(r.running.release).toBe('0.2.0');
  });
  it('an unreadable record is said, not hidden', () => {
    expect(reportedConvergence(null, running, '/var/lib/dalston/convergence.json: not JSON')).toMatchObject({
      state: 'unknown',
      problem: '/var/lib/dalston/convergence.json: not JSON',
    });
  });
});
