/**
 * A boot without the data volume attached: dalston.service must not start on
 * the root disk (RequiresMountsFor=/data), nothing lands under the empty /data,
 * and `systemctl status` says why. Needs the machine powered off; powers it off again.
 */
import { fail } from '../checks.ts';
import type { RehearsalContext, Scenario } from '../context.ts';
import { journal, messageOf, unitProps } from '../machine/systemd.ts';
import { waitFor } from '../wait.ts';

const BOOT = 'missing volume';

export const missingVolume: Scenario = {
  name: BOOT,
  async run(ctx: RehearsalContext) {
    await ctx.must('missing volume: the machine boots without its data volume', async () => {
      await ctx.boot(BOOT, { volume: false });
      return 'docker.service active; no block device bound';
    });
    const m = ctx.runningMachine(BOOT);

    await ctx.check('missing volume: dalston.service does not start (RequiresMountsFor=/data)', async () => {
      // data.mount waits for its device (x-systemd.device-timeout in the fstab line), then fails,
      // and dalston.service fails with it instead of starting on the root disk.
      let last = '';
      const p = await waitFor(
        'dalston.service to give up on /data',
        150_000,
        async () => {
          const x = await unitProps(m, 'dalston.service', [
            'ActiveState',
            'Result',
            'ExecMainStartTimestampMonotonic',
          ]);
          last = `dalston ${x.ActiveState}`;
          if (x.ActiveState === 'active' || x.ActiveState === 'activating')
            fail('dalston.service started without /data');
          const j = await journal(m, 'dalston.service');
          return /Dependency failed/i.test(j)
            ? { started: x.ExecMainStartTimestampMonotonic ?? '0', journal: j }
            : undefined;
        },
        () => last,
        2000,
      );
      if (p.started !== '0') fail('the agent process was started');
      return p.journal
        .trim()
        .split('\n')
        .filter((l) => /Dependency failed/i.test(l))[0];
    });

    await ctx.check('missing volume: nothing written under the empty /data', async () => {
      const mp = await m.exec('mountpoint', ['-q', '/data']);
      if (mp.exitCode === 0) fail('/data is a mount point');
      const files = (await m.execChecked('find', ['/data', '-mindepth', '1'])).trim();
      if (files) fail(`found on the root disk under /data: ${files.split('\n').slice(0, 5).join(', ')}`);
      // Containers stopped at the last shutdown still exist in dockerd (root disk); none may run.
      const running = (await m.execChecked('docker', ['ps', '--format', '{{.Names}}'])).trim();
      if (running) fail(`containers running without the data volume: ${running.split('\n').join(', ')}`);
      return '/data is empty and not a mount point; no container running';
    });

    await ctx.check('missing volume: the status says why', async () => {
      const st = (
        await m.exec('systemctl', [
          'status',
          '--no-pager',
          '--lines=20',
          'dalston.service',
          'data.mount',
          'dalston-bootstrap.service',
        ])
      ).stdout;
      const reasons = st
        .split('\n')
        .filter((l) =>
          /Dependency failed|Timed out waiting for device|waiting for|not found|not attached|not mounted/i.test(
            l,
          ),
        )
        // The journal lines systemctl status shows carry a "… unit[pid]: " prefix; the bootstrap's are pino JSON.
        .map((l) => messageOf(l.replace(/^.*?\]: /, '')));
      if (reasons.length === 0)
        fail(`systemctl status names no reason:\n${st.split('\n').slice(0, 12).join('\n')}`);
      return [...new Set(reasons)].slice(0, 3).join(' / ');
    });

    await ctx.powerOff(m, BOOT);
  },
};
