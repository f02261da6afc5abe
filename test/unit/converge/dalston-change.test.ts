import { describe, expect, it } from 'vitest';
import { applyDalstonChange, type DalstonChangeDeps } from '../../../converge/dalston-change.ts';
import { DowntimeTally, startDowntimeMeter } from '../../../converge/gateway-downtime.ts';
import { waitStackHealthy } from '../../../converge/stack-health.ts';
import { type HostConfigInput, hostConfigSchema } from '../../../shared/config/schema.ts';
import type { ContainerInfo, ExecRun, ExecSpec } from '../../../shared/engine/docker/types.ts';
import { container, FakeClock } from '../agent/fakes.ts';
import { FakeShell } from '../bootstrap/fakes.ts';

const host = (over: Partial<HostConfigInput> = {}) =>
  hostConfigSchema.parse({
    compose: { project: 'proj', services: ['postgres', 'gateway'] },
    dalston: { ref: 'v1.0.0', imageTag: '1.0.0' },
    ...over,
  });

/** Containers listed from a script (one list per call, the last one repeated); no exec. */
function scriptedDocker(lists: ContainerInfo[][]) {
  let i = 0;
  return {
    calls: 0,
    async listProjectContainers() {
      this.calls++;
      return lists[Math.min(i++, lists.length - 1)]!;
    },
    async exec(_id: string, _spec: ExecSpec): Promise<ExecRun> {
      throw new Error('no exec in this test');
    },
    async containerEnv() {
      return {};
    },
  };
}

describe('DowntimeTally', () => {
  it('sums the time from each failed probe to the next good one, and an open one until the end', () => {
    const t = new DowntimeTally();
    t.observe(true, 0);
    t.observe(false, 1_000);
    t.observe(false, 2_000);
    t.observe(true, 3_500);
    t.observe(true, 4_000);
    t.observe(false, 5_000);
    expect(t.seconds(5_000)).toBe(2.5);
    expect(t.seconds(6_200)).toBe(3.7);
  });
});

describe('startDowntimeMeter', () => {
  it('gives null when the gateway did not answer before the change (nothing to compare)', async () => {
    const clock = new FakeClock();
    const meter = await startDowntimeMeter(async () => false, clock, 250);
    await clock.advance(1_000);
    expect(await meter.stop()).toBeNull();
  });

  it('measures an outage while the change runs', async () => {
    const clock = new FakeClock();
    let up = true;
    const meter = await startDowntimeMeter(async () => up, clock, 250);
    up = false;
    await clock.advance(2_000);
    up = true;
    await clock.advance(1_000);
    const s = await meter.stop();
    expect(s).not.toBeNull();
    expect(s!).toBeGreaterThanOrEqual(1.5);
    expect(s!).toBeLessThanOrEqual(2.5);
  });
});

describe('waitStackHealthy', () => {
  it('returns once every service passed on two polls in a row', async () => {
    const clock = new FakeClock();
    const healthy = [container({ service: 'a' }), container({ service: 'b', health: 'none' })];
    const docker = scriptedDocker([[container({ service: 'a', health: 'starting' })], healthy, healthy]);
    await waitStackHealthy({ docker, clock }, 'proj', ['a', 'b'], 60_000, 1_000);
    expect(docker.calls).toBe(3);
  });

  it('does not pass a service that is healthy on one look and crashed on the next', async () => {
    const clock = new FakeClock();
    const ok = [container({ service: 'a', health: 'none' })];
    const crashed = [container({ service: 'a', state: 'restarting', health: 'none' })];
    const docker = scriptedDocker([ok, crashed, ok, crashed, ok, crashed]);
    await expect(waitStackHealthy({ docker, clock }, 'proj', ['a'], 4_000, 1_000)).rejects.toThrow(
      'not healthy within 4 s: a restarting/none',
    );
  });

  it('fails at the bound naming what is not healthy', async () => {
    const clock = new FakeClock();
    const docker = scriptedDocker([[container({ service: 'a', health: 'starting' })]]);
    await expect(waitStackHealthy({ docker, clock }, 'proj', ['a', 'b'], 10_000, 1_000)).rejects.toThrow(
      'not healthy within 10 s: a running/starting, b missing',
    );
    expect(clock.now()).toBe(10_000);
  });
});

describe('applyDalstonChange before anything changes', () => {
  const deps = (over: Partial<DalstonChangeDeps> = {}) => {
    const shell = new FakeShell();
    const d: DalstonChangeDeps = {
      shell,
      docker: scriptedDocker([[container({ service: 'postgres' }), container({ service: 'gateway' })]]),
      clock: new FakeClock(Date.parse('2026-12-02T08:00:00Z')),
      backup: async () => ({ key: 'backups/postgres/k.dump' }),
      paths: { composeEnvFile: '/nonexistent/compose.env' },
      ...over,
    };
    return { d, shell };
  };

  it('stops at a failed backup: outcome failed, no command run, the old version runs on', async () => {
    const { d, shell } = deps({
      backup: async () => {
        throw new Error('backup failed: NoSuchBucket');
      },
    });
    const lines: string[] = [];
    const r = await applyDalstonChange(
      d,
      host(),
      host({ dalston: { ref: 'v1.1.0', imageTag: '1.1.0' } }),
      (l) => lines.push(l),
    );
    expect(r).toMatchObject({
      kind: 'dalston',
      outcome: 'failed',
      runs: 'old',
      backupKey: null,
      restoreCommand: null,
      message:
        'dalston v1.1.0 (image 1.1.0): the backup before the change failed (backup failed: NoSuchBucket); nothing was changed, dalston v1.0.0 (image 1.0.0) runs on',
    });
    expect(shell.calls).toEqual([]);
    expect(lines.at(-1)).toBe(r.message);
    expect(r.startedAt).toBe('2026-12-02T08:00:00.000Z');
  });

  it('does nothing when the Dalston part did not change', async () => {
    let backups = 0;
    const { d, shell } = deps({
      backup: async () => {
        backups++;
        return { key: 'k' };
      },
    });
    const r = await applyDalstonChange(d, host(), host());
    expect(r).toMatchObject({
      outcome: 'applied',
      runs: 'new',
      message: 'dalston v1.0.0 (image 1.0.0): nothing to change',
    });
    expect(backups).toBe(0);
    expect(shell.calls).toEqual([]);
  });

  it('refuses a change of compose project or data volume (a host-settings change) without touching anything', async () => {
    const { d, shell } = deps();
    const r = await applyDalstonChange(
      d,
      host(),
      host({ compose: { project: 'other' }, dalston: { ref: 'v1.1.0', imageTag: '1.1.0' } }),
    );
    expect(r.outcome).toBe('failed');
    expect(r.runs).toBe('old');
    expect(r.message).toContain('host-settings change');
    expect(shell.calls).toEqual([]);
  });
});
