/**
 * A change to a running host (issue 13): a new desired state published to S3
 * while the machine runs is seen by the agent's poll, which starts
 * `dalston-sync.service` (from inside the agent's sandbox, through systemd);
 * sync applies the host setting (host.json rewritten by the bootstrap's desired
 * step) and restarts the agent through the handover — no reboot, and the stack
 * keeps running. Needs the machine running and healthy; leaves it so, with the
 * agent polling every 20 s from then on.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DESIRED_STATE_KEY } from '../../shared/desired/desired-state.ts';
import { fail } from '../checks.ts';
import { PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import { agentStatus, isSnapshot, projectContainers } from '../product/observe.ts';
import { patchDesiredState } from '../product/user-data.ts';
import { waitFor } from '../wait.ts';

const NAME = 'live change';
const POLL_SECONDS = 20;

async function agentPid(ctx: RehearsalContext): Promise<string> {
  const m = ctx.runningMachine(NAME);
  return (await m.execChecked('systemctl', ['show', '-p', 'MainPID', '--value', 'dalston.service'])).trim();
}

export const liveChange: Scenario = {
  name: NAME,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    const m = ctx.runningMachine(NAME);
    const leader = m.leader;
    const before = await projectContainers(m, PROJECT);
    const pidBefore = await agentPid(ctx);

    await ctx.must(`${NAME}: a new desired state in S3 while the machine runs`, async () => {
      const file = path.join(ctx.runDir, 'desired-state-live.json');
      const desired = patchDesiredState(w.desiredState, (h) => ({
        ...h,
        agent: { ...(h.agent as object), desiredStatePollSeconds: POLL_SECONDS },
      }));
      await writeFile(file, desired);
      await w.s3.put(DESIRED_STATE_KEY, file);
      // Later publications build on it: the agent keeps polling every 20 s.
      w.desiredState = desired;
      return `agent.desiredStatePollSeconds ${POLL_SECONDS}; agent pid ${pidBefore}, ${before.length} containers`;
    });

    await ctx.check(`${NAME}: the agent's poll starts sync, which applies it without a reboot`, async () => {
      let last = '';
      return waitFor(
        'host.json and /status to show the change applied',
        5 * 60_000,
        async () => {
          const cfg = JSON.parse(await readFile(path.join(w.rootfs, 'etc/dalston/host.json'), 'utf8')) as {
            agent?: { desiredStatePollSeconds?: number };
          };
          const s = await agentStatus(m);
          const c = isSnapshot(s) ? s.convergence : undefined;
          last = `host.json poll ${cfg.agent?.desiredStatePollSeconds}; convergence ${c ? `${c.state}: ${c.summary}` : isSnapshot(s) ? 'absent' : s.error}`;
          if (c?.state === 'failed' || c?.state === 'rolled-back') fail(last);
          if (cfg.agent?.desiredStatePollSeconds !== POLL_SECONDS) return undefined;
          if (c?.state !== 'converged' || c.lastResult?.kind !== 'host-settings') return undefined;
          if (c.lastResult.outcome !== 'applied') fail(last);
          return `${c.summary}; last step: ${c.lastResult.message}`;
        },
        () => last,
        2000,
      );
    });

    await ctx.check(`${NAME}: the agent was restarted, the stack and the machine were not`, async () => {
      if (!m.running || m.leader !== leader) fail('the machine restarted');
      const pidAfter = await agentPid(ctx);
      if (pidAfter === pidBefore || pidAfter === '0') fail(`agent pid ${pidBefore} → ${pidAfter}`);
      const after = await projectContainers(m, PROJECT);
      const moved = before.filter((b) => !after.some((a) => a.id === b.id && a.startedAt === b.startedAt));
      if (moved.length > 0) fail(`restarted or replaced: ${moved.map((c) => c.service).join(', ')}`);
      const journal = await m.exec('journalctl', ['-u', 'dalston-sync.service', '-o', 'cat', '--no-pager']);
      if (!journal.stdout.trim()) fail('dalston-sync.service left nothing in the journal');
      return `agent pid ${pidBefore} → ${pidAfter}; ${after.length} containers, none restarted`;
    });
  },
};
