/**
 * Healing on the running host: an unhealthy service, a crashed container, a
 * crashed agent. Needs the machine the first boot left running and leaves it so.
 */
import { fail } from '../checks.ts';
import { PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import type { Machine } from '../machine/nspawn.ts';
import { unitProps, waitUnit } from '../machine/systemd.ts';
import { agentStatus, containerOf, isSnapshot, projectContainers } from '../product/observe.ts';
import { sleep, waitFor } from '../wait.ts';

/** One service's entry in the agent's /status, with the snapshot it came from. */
async function serviceStatus(m: Machine, name: string) {
  const s = await agentStatus(m);
  return isSnapshot(s) ? { snap: s, svc: s.services.find((x) => x.name === name) } : undefined;
}

export const faults: Scenario = {
  name: 'faults',
  async run(ctx: RehearsalContext) {
    const m = ctx.runningMachine('faults');

    await ctx.check('fault: redis made unhealthy → the agent heals it, once', async () => {
      const before = await serviceStatus(m, 'redis');
      if (!before?.svc) fail('redis is not in /status');
      const r0 = before.svc.agentRestarts;
      const c = await containerOf(m, PROJECT, 'redis');
      const t0 = Date.now();
      // A hung Redis (real redis-server): every client's commands, `redis-cli ping` included, wait.
      await m.execChecked('docker', ['exec', c.id, 'redis-cli', 'CLIENT', 'PAUSE', '600000', 'ALL']);
      let last = '';
      const healed = await waitFor(
        'redis healed',
        4 * 60_000,
        async () => {
          const s = await serviceStatus(m, 'redis');
          last = s?.svc
            ? `${s.svc.state}/${s.svc.health}, agentRestarts ${s.svc.agentRestarts}`
            : 'no status';
          return s?.svc &&
            s.svc.agentRestarts > r0 &&
            s.svc.health === 'healthy' &&
            s.snap.state === 'healthy'
            ? s.svc
            : undefined;
        },
        () => last,
        1000,
      );
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      // Long enough for a second, unwanted action to show up.
      await sleep(5_000);
      const after = await serviceStatus(m, 'redis');
      const actions = (after?.svc?.agentRestarts ?? 0) - r0;
      if (actions !== 1) fail(`the agent acted ${actions} times on redis (expected exactly 1)`);
      return `healed in ${secs} s by one ${healed.lastAction?.action ?? 'action'} (${healed.lastAction?.reason ?? ''})`;
    });

    await ctx.check('fault: orchestrator container killed (its process SIGKILLed) → back', async () => {
      // A crash, not an operator's `docker kill`: Docker counts the latter as a deliberate stop.
      const c = await containerOf(m, PROJECT, 'orchestrator');
      const pid = (await m.execChecked('docker', ['inspect', '--format', '{{.State.Pid}}', c.id])).trim();
      if (!/^[1-9]\d*$/.test(pid)) fail(`orchestrator has no process (pid "${pid}")`);
      const t0 = Date.now();
      await m.execChecked('kill', ['-KILL', pid]);
      let last = '';
      const s = await waitFor(
        'orchestrator back and the stack healthy',
        3 * 60_000,
        async () => {
          const x = await serviceStatus(m, 'orchestrator');
          last = x?.svc ? `${x.svc.state}, stack ${x.snap.state}` : 'no status';
          const now = await containerOf(m, PROJECT, 'orchestrator').catch(() => undefined);
          const back = now?.running && now.startedAt !== c.startedAt;
          return x?.svc && x.svc.state === 'running' && x.snap.state === 'healthy' && back
            ? x.svc
            : undefined;
        },
        () => last,
        1000,
      );
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      const restarts = (
        await m.execChecked('docker', ['inspect', '--format', '{{.RestartCount}}', c.id])
      ).trim();
      const by = Number(restarts) > 0 ? `Docker's restart policy (RestartCount ${restarts})` : 'the agent';
      return `running again after ${secs} s, brought back by ${by}; agent actions on it: ${s.agentRestarts}`;
    });

    await ctx.check('fault: agent killed with SIGKILL → systemd restarts it, stack untouched', async () => {
      const before = await unitProps(m, 'dalston.service', ['MainPID', 'NRestarts']);
      const containers = await projectContainers(m, PROJECT);
      const pid = before.MainPID ?? '0';
      if (pid === '0') fail('dalston.service has no main PID');
      const t0 = Date.now();
      await m.execChecked('kill', ['-KILL', pid]);
      const after = await waitUnit(
        m,
        'dalston.service',
        ['MainPID', 'NRestarts', 'ActiveState', 'SubState'],
        (p) =>
          p.ActiveState === 'active' && p.SubState === 'running' && p.MainPID !== pid && p.MainPID !== '0',
        { what: 'dalston.service restarted', timeoutMs: 90_000 },
      );
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      await ctx.waitHealthy(m, 90_000);
      const now = await projectContainers(m, PROJECT);
      const changed = containers.filter(
        (c) => !now.some((n) => n.id === c.id && n.startedAt === c.startedAt),
      );
      if (changed.length > 0)
        fail(`containers restarted or replaced: ${changed.map((c) => c.service).join(', ')}`);
      return `new agent PID ${after.MainPID} after ${secs} s (NRestarts ${before.NRestarts} → ${after.NRestarts}); ${containers.length} containers untouched`;
    });
  },
};
