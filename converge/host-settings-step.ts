/**
 * The host-settings step: the desired state changed host.json's settings
 * (anything but Dalston's ref, image tag and services, which the Dalston step
 * applies after a backup and with a health gate). The bootstrap does the work
 * (issue 13's contract): its `desired` step re-reads the desired state and
 * rewrites host.json and compose.env, its `units` step re-renders the units.
 * Then the agent, which read host.json at its start, is restarted through the
 * handover, so the stack keeps running. A new data volume id or dataDir is
 * followed at the next boot: remounting under a running stack would move
 * Postgres' files from under it.
 */
import type { DesiredState } from '../shared/desired/desired-state.ts';
import type { Logger } from '../shared/logger.ts';
import type { Clock } from '../shared/time/clock.ts';
import type { AgentControl } from './release-step.ts';
import type { StepResultOf } from './sync-runner.ts';

/** The bootstrap steps a host-settings change runs (the quick path's others need no change). */
export const HOST_SETTINGS_STEPS = ['desired', 'units'] as const;

/** Keys whose change takes effect only at the next boot (the data volume is mounted then). */
export const NEXT_BOOT_KEYS = ['volume', 'dataDir'] as const;

export interface HostSettingsDeps {
  /** Runs `dalston-host bootstrap --steps desired,units`; resolves with its exit code and last words. */
  runBootstrap(steps: readonly string[]): Promise<{ exitCode: number; output: string }>;
  agent: AgentControl;
  /** The release the restarted agent must report (this process's). */
  release: string;
  readySeconds: number;
  clock: Clock;
  logger?: Logger;
  say?: (line: string) => void;
}

/** Pure: the part of the message about keys that wait for the next boot. */
export function nextBootNote(changedKeys: readonly string[]): string {
  const later = changedKeys.filter((k) => NEXT_BOOT_KEYS.some((n) => k === n || k.startsWith(`${n}.`)));
  return later.length === 0
    ? ''
    : `; ${later.join(', ')} take effect at the next boot (the data volume is mounted then)`;
}

export async function applyHostSettings(
  deps: HostSettingsDeps,
  _desired: DesiredState,
  changedKeys: readonly string[],
): Promise<StepResultOf<'host-settings'>> {
  const startedAt = new Date(deps.clock.now()).toISOString();
  const result = (outcome: 'applied' | 'failed', message: string): StepResultOf<'host-settings'> => {
    deps.say?.(message);
    deps.logger?.info({ step: 'host-settings' }, message);
    return {
      kind: 'host-settings',
      outcome,
      message,
      startedAt,
      finishedAt: new Date(deps.clock.now()).toISOString(),
    };
  };
  const what = `host settings ${changedKeys.join(', ')}`;
  deps.say?.(`${what}: running the bootstrap's ${HOST_SETTINGS_STEPS.join(', ')} steps`);
  const boot = await deps.runBootstrap(HOST_SETTINGS_STEPS);
  if (boot.exitCode !== 0) {
    return result(
      'failed',
      `${what}: the bootstrap exited ${boot.exitCode}${boot.output ? ` (${boot.output})` : ''}; the agent keeps the settings it started with`,
    );
  }
  try {
    await deps.agent.restart(`host settings ${changedKeys.join(', ')}`);
  } catch (err) {
    return result(
      'failed',
      `${what}: host.json rewritten, but the agent could not be restarted: ${(err as Error).message}`,
    );
  }
  if (!(await deps.agent.ready(deps.release, deps.readySeconds * 1000))) {
    return result(
      'failed',
      `${what}: host.json rewritten, but the agent was not ready within ${deps.readySeconds} s after its restart (journalctl -u dalston)`,
    );
  }
  return result(
    'applied',
    `${what}: host.json and units rewritten, agent restarted${nextBootNote(changedKeys)}`,
  );
}
