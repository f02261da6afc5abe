/**
 * The data volume pulled while the stack runs (`umount -l /data`: the
 * containers keep their binds, the host path is the root disk's empty
 * directory again). The agent must stop the services holding binds under
 * /data, report `data volume missing`, and start nothing onto the root disk;
 * once /data is mounted again the stack comes back. Needs the machine the
 * previous scenarios left running, and leaves it running and healthy, so the
 * stop scenario still sees a clean Postgres shutdown.
 */
import { fail } from '../checks.ts';
import { DATA_DIR, PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import type { Machine } from '../machine/nspawn.ts';
import { journalLevelProblems, pinoJournalEntries } from '../product/journal-levels.ts';
import { agentStatus, isSnapshot, projectContainers } from '../product/observe.ts';
import { sleep, waitFor } from '../wait.ts';

/** Services whose containers bind something from under /data, as Docker reports their mounts. */
async function bindHolders(m: Machine): Promise<string[]> {
  const containers = await projectContainers(m, PROJECT);
  const fmt = `{{index .Config.Labels "com.docker.compose.service"}}{{range .Mounts}} {{.Type}}:{{.Source}}{{end}}`;
  const out = await m.execChecked('docker', ['inspect', '--format', fmt, ...containers.map((c) => c.id)]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter(([, ...mounts]) =>
      mounts.some((x) => x === `bind:${DATA_DIR}` || x.startsWith(`bind:${DATA_DIR}/`)),
    )
    .map(([service]) => service!)
    .sort();
}

export const volumePulled: Scenario = {
  name: 'volume pulled',
  async run(ctx: RehearsalContext) {
    const m = ctx.runningMachine('volume pulled');
    let holders: string[] = [];
    let restartsBefore = 0;
    /** What the root disk holds at /data once the volume is gone (normally nothing). */
    let rootListing = '';
    const listRoot = async () =>
      (await m.execChecked('find', [DATA_DIR, '-xdev'])).split('\n').sort().join('\n').trim();

    const pulled = await ctx.check(
      'volume pulled while running → the agent stops the bind holders and reports it',
      async () => {
        holders = await bindHolders(m);
        if (holders.length === 0) fail(`no container binds anything under ${DATA_DIR}`);
        const before = await agentStatus(m);
        if (!isSnapshot(before) || before.state !== 'healthy') fail('the stack is not healthy to begin with');
        restartsBefore = before.services.reduce((n, s) => n + s.agentRestarts, 0);
        const t0 = Date.now();
        await m.execChecked('umount', ['-l', DATA_DIR]);
        rootListing = await listRoot();
        let last = '';
        const s = await waitFor(
          'the holders stopped and data volume missing in /status',
          3 * 60_000,
          async () => {
            const st = await agentStatus(m);
            const running = (await projectContainers(m, PROJECT))
              .filter((c) => c.running && holders.includes(c.service))
              .map((c) => c.service);
            last = isSnapshot(st)
              ? `${st.state}, reason ${st.reason ?? 'none'}, holders running: ${running.join(', ') || 'none'}`
              : st.error;
            return isSnapshot(st) &&
              st.state === 'degraded' &&
              st.reason?.startsWith('data volume missing') &&
              running.length === 0
              ? st
              : undefined;
          },
          () => last,
          1000,
        );
        const line = (
          await m.execChecked('systemctl', ['show', '-p', 'StatusText', '--value', 'dalston'])
        ).trim();
        if (!line.includes('data volume missing')) fail(`the STATUS= line does not say it: "${line}"`);
        return `${holders.join(', ')} stopped after ${((Date.now() - t0) / 1000).toFixed(0)} s; /status: ${s.reason}; status line: "${line}"`;
      },
    );
    if (!pulled) {
      // Whatever happened, leave the volume mounted for the scenarios after this one.
      await m.exec('mount', [DATA_DIR]);
      return;
    }

    await ctx.check('journal: `journalctl -u dalston -p warning` shows the agent’s warning', async () => {
      const out = await m.execChecked('journalctl', [
        '-b',
        '0',
        '-u',
        'dalston.service',
        '-p',
        'warning',
        '-o',
        'json',
        '--no-pager',
      ]);
      const entries = pinoJournalEntries(out);
      const stop = entries.find((e) => e.level === 'warn' && e.msg.startsWith('stopping '));
      if (!stop) fail(`no "stopping …" warning at priority warning or worse (${entries.length} pino lines)`);
      const problems = journalLevelProblems(entries);
      if (problems.length > 0) fail(problems.slice(0, 3).join('; '));
      return `${entries.length} lines at warning or worse, e.g. <${stop.priority}> "${stop.msg}"`;
    });

    await ctx.check('volume still gone → nothing healed, nothing written to the root disk', async () => {
      // Past a reconcile (30 s) and a guard resume: time for a wrong heal or `compose up` to show.
      await sleep(40_000);
      const running = (await projectContainers(m, PROJECT))
        .filter((c) => c.running && holders.includes(c.service))
        .map((c) => c.service);
      if (running.length > 0) fail(`started again while the volume is gone: ${running.join(', ')}`);
      const onRoot = await listRoot();
      if (onRoot !== rootListing)
        fail(
          `written to the root disk's ${DATA_DIR}: now ${onRoot.split('\n').join(', ')}; was ${rootListing}`,
        );
      const st = await agentStatus(m);
      if (!isSnapshot(st) || !st.reason?.startsWith('data volume missing'))
        fail(`/status no longer reports it: ${isSnapshot(st) ? st.reason : st.error}`);
      const restarts = st.services.reduce((n, s) => n + s.agentRestarts, 0) - restartsBefore;
      if (restarts !== 0) fail(`the agent restarted ${restarts} times while the volume was gone`);
      const entries = rootListing.split('\n').length - 1;
      return `${DATA_DIR} on the root disk unchanged (${entries} entries under it), holders stopped, no agent restarts`;
    });

    await ctx.check('volume mounted again → the stack comes back healthy', async () => {
      const t0 = Date.now();
      // fstab's UUID line, as the operator would after re-attaching the volume.
      await m.execChecked('mount', [DATA_DIR]);
      const s = await ctx.waitHealthy(m, 4 * 60_000);
      if (s.reason) fail(`healthy but still reporting: ${s.reason}`);
      const back = await bindHolders(m);
      if (back.join() !== holders.join())
        fail(`bind holders now ${back.join(', ')}, were ${holders.join(', ')}`);
      return `healthy ${((Date.now() - t0) / 1000).toFixed(0)} s after the mount`;
    });
  },
};
