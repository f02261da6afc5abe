import { describe, expect, it } from 'vitest';
import { runSync, type SyncDeps, type SyncSteps, withDalstonFields } from '../../../converge/sync-runner.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import type { ConvergenceRecord, RecordRead } from '../../../shared/desired/convergence-record.ts';
import type { ConvergenceResult } from '../../../shared/desired/convergence-status.ts';
import { parseDesiredState } from '../../../shared/desired/desired-state.ts';
import type { DesiredStateRead } from '../../../shared/desired/desired-state-source.ts';
import { ExitCode } from '../../../shared/errors.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const SHA = 'a'.repeat(64);
const runningRaw = {
  s3: { bucket: 'b-test' },
  dalston: { ref: 'v1.2.3', imageTag: '1.2.3' },
  compose: { services: ['gateway', 'postgres'] },
};

function desiredRead(host: Record<string, unknown>, etag = '"e2"', release = '0.2.0'): DesiredStateRead {
  const body = JSON.stringify({
    schemaVersion: 1,
    release: { version: release, key: `releases/dalston-host-${release}.tgz`, sha256: SHA },
    host,
  });
  const p = parseDesiredState(body);
  if (p.kind !== 'ok') throw new Error(p.reason);
  return { kind: 'ok', state: p.state, body, etag, versionId: null };
}

const res = <K extends ConvergenceResult['kind']>(
  kind: K,
  outcome: ConvergenceResult['outcome'],
  message: string,
) => ({
  kind,
  outcome,
  message,
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:01:00.000Z',
});

class World {
  raw: Record<string, unknown> = structuredClone(runningRaw);
  written: Record<string, unknown>[] = [];
  stored: ConvergenceRecord | null = null;
  records: ConvergenceRecord[] = [];
  calls: string[] = [];
  read: DesiredStateRead = desiredRead(runningRaw);
  settings: string[] = [];
  steps: SyncSteps = {
    release: async () => res('release', 'applied', 'release 0.2.0 → 0.3.0: agent ready'),
    hostSettings: async () => {
      this.settings = [];
      return res('host-settings', 'applied', 'host settings rewritten');
    },
    dalston: async () => ({
      ...res('dalston', 'applied', 'dalston v1.2.3 → v1.3.0: healthy'),
      runs: 'new' as const,
    }),
  };
  deps(): SyncDeps {
    const wrap =
      <A extends unknown[], R>(name: string, f: (...a: A) => Promise<R>) =>
      async (...a: A) => {
        this.calls.push(name);
        return f(...a);
      };
    return {
      readDesired: async () => this.read,
      runningRelease: '0.2.0',
      readHost: async () => ({ raw: this.raw, config: parseConfig(this.raw) }),
      writeHost: async (raw) => {
        this.written.push(raw);
        this.raw = raw;
      },
      hostSettingsChanged: () => this.settings,
      steps: {
        release: wrap('release', this.steps.release),
        hostSettings: wrap('host-settings', this.steps.hostSettings),
        dalston: wrap('dalston', this.steps.dalston),
      },
      record: {
        read: async (): Promise<RecordRead> =>
          this.stored ? { kind: 'ok', record: this.stored } : { kind: 'none' },
        write: async (r) => {
          this.stored = structuredClone(r);
          this.records.push(this.stored);
        },
      },
      clock: new FakeClock(Date.parse('2026-01-01T00:00:00Z')),
    };
  }
}

const newDalston = { ...runningRaw, dalston: { ref: 'v1.3.0', imageTag: '1.3.0' } };

describe('runSync', () => {
  it('records converged and exits 0 when the host runs the desired state', async () => {
    const w = new World();
    const out = await runSync(w.deps());
    expect(out).toMatchObject({ exitCode: ExitCode.ok, reexec: false });
    expect(w.calls).toEqual([]);
    expect(w.stored).toMatchObject({ state: 'converged', desiredVersion: '"e2"', problem: null });
    expect(w.stored?.running).toEqual({
      release: '0.2.0',
      dalstonRef: 'v1.2.3',
      imageTag: '1.2.3',
      services: ['gateway', 'postgres'],
    });
  });

  it('an invalid desired state: exit 78, the key named, nothing applied or written to host.json', async () => {
    const w = new World();
    w.read = {
      kind: 'invalid',
      reason: 's3://b-test/config/host.json: host.dataDir: must be an absolute path',
      etag: '"e3"',
      versionId: null,
    };
    const out = await runSync(w.deps());
    expect(out.exitCode).toBe(ExitCode.config);
    expect(w.calls).toEqual([]);
    expect(w.written).toEqual([]);
    expect(w.stored).toMatchObject({ state: 'unknown', desiredVersion: '"e3"' });
    expect(w.stored?.problem).toContain('host.dataDir: must be an absolute path');
  });

  it('S3 unreachable: exit 69 (unavailable), the last result kept', async () => {
    const w = new World();
    w.read = { kind: 'unreachable', reason: 's3://b-test/config/host.json: connect ECONNREFUSED' };
    const out = await runSync(w.deps());
    expect(out.exitCode).toBe(ExitCode.unavailable);
    expect(w.stored?.problem).toContain('ECONNREFUSED');
  });

  it('a Dalston change applied: records converging then converged, and writes the Dalston fields into host.json', async () => {
    const w = new World();
    w.read = desiredRead(newDalston);
    const out = await runSync(w.deps());
    expect(out.exitCode).toBe(ExitCode.ok);
    expect(w.calls).toEqual(['dalston']);
    expect(w.records.map((r) => r.state)).toEqual(['converging', 'converging', 'converged']);
    expect(w.records[0]).toMatchObject({ step: 'dalston' });
    expect(w.written).toHaveLength(1);
    expect(w.written[0]).toMatchObject({
      dalston: { ref: 'v1.3.0', imageTag: '1.3.0' },
      s3: { bucket: 'b-test' },
    });
    expect(w.stored).toMatchObject({
      state: 'converged',
      running: { dalstonRef: 'v1.3.0' },
      lastResult: { outcome: 'applied' },
    });
  });

  it('a Dalston change rolled back: exit 1, host.json keeps the old version, and the next sync does not retry it until the desired state changes', async () => {
    const w = new World();
    w.read = desiredRead(newDalston);
    w.steps.dalston = async () => ({
      ...res('dalston', 'rolled-back', 'v1.3.0 failed; rolled back to v1.2.3'),
      runs: 'old' as const,
    });
    expect((await runSync(w.deps())).exitCode).toBe(ExitCode.failure);
    expect(w.written).toEqual([]);
    expect(w.stored).toMatchObject({
      state: 'rolled-back',
      running: { dalstonRef: 'v1.2.3' },
      desired: { dalstonRef: 'v1.3.0' },
    });
    expect(w.stored?.summary).toContain('rolled back');

    expect((await runSync(w.deps())).exitCode).toBe(ExitCode.failure);
    expect(w.calls).toEqual(['dalston']);

    w.read = desiredRead(newDalston, '"e4"');
    await runSync(w.deps());
    expect(w.calls).toEqual(['dalston', 'dalston']);
  });

  it('a Dalston change that failed after migrating: the new version is recorded in host.json and the state is failed', async () => {
    const w = new World();
    w.read = desiredRead(newDalston);
    w.steps.dalston = async () => ({
      ...res('dalston', 'failed', 'migrated; restore with …'),
      runs: 'new' as const,
    });
    expect((await runSync(w.deps())).exitCode).toBe(ExitCode.failure);
    expect(w.written[0]).toMatchObject({ dalston: { ref: 'v1.3.0' } });
    expect(w.stored).toMatchObject({ state: 'failed', running: { dalstonRef: 'v1.3.0' } });
  });

  it('a new release: applied, then the rest is left to the new release (reexec), nothing else run', async () => {
    const w = new World();
    w.read = desiredRead(newDalston, '"e2"', '0.3.0');
    const out = await runSync(w.deps());
    expect(out).toMatchObject({ exitCode: ExitCode.ok, reexec: true });
    expect(w.calls).toEqual(['release']);
    expect(w.stored?.history).toEqual([expect.objectContaining({ kind: 'release', outcome: 'applied' })]);
  });

  it('host settings, then Dalston, in one run', async () => {
    const w = new World();
    w.read = desiredRead(newDalston);
    w.settings = ['agent.listen'];
    expect((await runSync(w.deps())).exitCode).toBe(ExitCode.ok);
    expect(w.calls).toEqual(['host-settings', 'dalston']);
  });

  it('a step that throws is recorded as failed, not a crash', async () => {
    const w = new World();
    w.read = desiredRead(newDalston);
    w.steps.dalston = async () => {
      throw new Error('docker gone');
    };
    expect((await runSync(w.deps())).exitCode).toBe(ExitCode.failure);
    expect(w.stored).toMatchObject({
      state: 'failed',
      lastResult: { kind: 'dalston', outcome: 'failed', message: 'dalston: docker gone' },
    });
  });
});

describe('withDalstonFields', () => {
  it('changes only the ref, image tag and services, and removes a tag the desired state drops', () => {
    const raw = { ...runningRaw, agent: { listen: '127.0.0.1:9190' } };
    const out = withDalstonFields(raw, parseConfig({ dalston: { ref: 'v2' }, compose: { services: ['x'] } }));
    expect(out).toEqual({
      s3: { bucket: 'b-test' },
      agent: { listen: '127.0.0.1:9190' },
      dalston: { ref: 'v2' },
      compose: { services: ['x'] },
    });
  });
});
