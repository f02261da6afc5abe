import { describe, expect, it } from 'vitest';
import {
  applyHostSettings,
  HOST_SETTINGS_STEPS,
  nextBootNote,
} from '../../../converge/host-settings-step.ts';
import type { AgentControl } from '../../../converge/release-step.ts';
import { parseDesiredState } from '../../../shared/desired/desired-state.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const parsed = parseDesiredState({
  schemaVersion: 1,
  release: { version: '0.2.0', key: 'releases/dalston-host-0.2.0.tgz', sha256: 'a'.repeat(64) },
  host: {},
});
if (parsed.kind !== 'ok') throw new Error(parsed.reason);
const desired = parsed.state;

function world(opts: { bootstrap?: number; ready?: boolean } = {}) {
  const calls: string[] = [];
  const agent: AgentControl = {
    restart: async (why) => void calls.push(`restart ${why}`),
    ready: async (v) => {
      calls.push(`ready? ${v}`);
      return opts.ready ?? true;
    },
  };
  return {
    calls,
    deps: {
      runBootstrap: async (steps: readonly string[]) => {
        calls.push(`bootstrap ${steps.join(',')}`);
        return { exitCode: opts.bootstrap ?? 0, output: opts.bootstrap ? 'desired: s3 unreachable' : '' };
      },
      agent,
      release: '0.2.0',
      readySeconds: 30,
      clock: new FakeClock(0),
    },
  };
}

describe('host-settings step', () => {
  it('runs the bootstrap desired and units steps, then restarts the agent through the handover and waits for it', async () => {
    const w = world();
    const r = await applyHostSettings(w.deps, desired, ['agent.listen', 'idle.stopAfterMinutes']);
    expect(HOST_SETTINGS_STEPS).toEqual(['desired', 'units']);
    expect(w.calls).toEqual([
      'bootstrap desired,units',
      'restart host settings agent.listen, idle.stopAfterMinutes',
      'ready? 0.2.0',
    ]);
    expect(r).toMatchObject({ kind: 'host-settings', outcome: 'applied' });
  });

  it('a failed bootstrap fails the step and leaves the agent alone', async () => {
    const w = world({ bootstrap: 78 });
    const r = await applyHostSettings(w.deps, desired, ['agent.listen']);
    expect(r.outcome).toBe('failed');
    expect(r.message).toContain('the bootstrap exited 78 (desired: s3 unreachable)');
    expect(w.calls).toEqual(['bootstrap desired,units']);
  });

  it('an agent that does not come back fails the step, saying where to look', async () => {
    const r = await applyHostSettings(world({ ready: false }).deps, desired, ['agent.listen']);
    expect(r.outcome).toBe('failed');
    expect(r.message).toContain('not ready within 30 s');
  });

  it('says which keys wait for the next boot (never a silent no-op)', async () => {
    expect(nextBootNote(['volume.id', 'agent.listen', 'dataDir'])).toBe(
      '; volume.id, dataDir take effect at the next boot (the data volume is mounted then)',
    );
    expect(nextBootNote(['agent.listen'])).toBe('');
    const r = await applyHostSettings(world().deps, desired, ['volume.id']);
    expect(r.message).toContain('volume.id take effect at the next boot');
  });
});
