/**
 * Restarting the agent from `dalston-host sync` without stopping the stack:
 * the handover marker (shared/desired/agent-handover.ts), then a restart of
 * dalston.service that does not wait for it (the unit's READY=1 may take long),
 * then the agent's own /status, which says which release answers.
 */

import type { HostConfig } from '../shared/config/schema.ts';
import { clearHandover, handoverFile, writeHandover } from '../shared/desired/agent-handover.ts';
import { runChecked, type Shell } from '../shared/shell.ts';
import { parseSnapshot } from '../shared/status/snapshot.ts';
import type { Clock } from '../shared/time/clock.ts';
import type { AgentControl } from './release-step.ts';

export const AGENT_UNIT = 'dalston.service';

/** The agent's /status URL from agent.listen (a wildcard address is asked on loopback). */
export function agentStatusUrl(listen: string): string {
  return `http://${listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:')}/status`;
}

export function systemdAgentControl(config: HostConfig, shell: Shell, clock: Clock): AgentControl {
  const marker = handoverFile(config.backup.runDir);
  return {
    async restart(why: string) {
      await writeHandover(marker, {
        reason: why,
        by: 'dalston-host sync',
        at: new Date(clock.now()).toISOString(),
      });
      try {
        await runChecked(shell, 'systemctl', ['restart', '--no-block', AGENT_UNIT], { timeoutMs: 60_000 });
      } catch (err) {
        await clearHandover(marker);
        throw err;
      }
    },
    ready: (version, timeoutMs) =>
      agentReports(agentStatusUrl(config.agent.listen), version, timeoutMs, clock),
  };
}

/** Polls the agent's /status until it answers with `version`; false after `timeoutMs`. */
export async function agentReports(
  url: string,
  version: string,
  timeoutMs: number,
  clock: Clock,
): Promise<boolean> {
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (res.ok) {
        const s = parseSnapshot(await res.text());
        if (s.kind === 'ok' && s.snapshot.version === version && s.snapshot.state !== 'stopping') return true;
      }
    } catch {
      // not answering yet (restarting)
    }
    if (clock.now() >= deadline) return false;
    await clock.sleep(1_000);
  }
}
