import { fail } from '../checks.ts';
import type { RehearsalContext } from '../context.ts';
import type { Machine } from '../machine/nspawn.ts';
import { waitFor } from '../wait.ts';

/** What an operator sees on a running host (issue §4): `systemctl is-active` and the status line. */
export async function checkRunningHost(ctx: RehearsalContext, m: Machine, label: string): Promise<void> {
  await ctx.check(`${label}: systemctl is-active dalston → active`, async () => {
    const r = await m.exec('systemctl', ['is-active', 'dalston.service']);
    if (r.stdout.trim() !== 'active') fail(`is-active says "${r.stdout.trim()}"`);
    return 'active';
  });
  await ctx.check(`${label}: systemctl status dalston shows the agent's status line`, async () => {
    return waitFor(
      'a "healthy N/N" Status: line',
      60_000,
      async () => {
        const r = await m.exec('systemctl', ['status', '--no-pager', '--lines=0', 'dalston.service']);
        const l = r.stdout.split('\n').find((x) => /^\s*Status: "/.test(x));
        const mm = l ? /Status: "healthy (\d+)\/(\d+)/.exec(l) : null;
        return mm && mm[1] === mm[2] ? l!.trim() : undefined;
      },
      () => '',
      1000,
    );
  });
}
