/**
 * A clean stop of the running instance: the agent stops the stack before
 * shutdown, and Postgres finds time to shut down cleanly (read from the volume
 * on the host). The journal side of the stop is checked by the second boot,
 * which can read the previous boot's journal.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { runChecked } from '../../shared/shell.ts';
import { fail } from '../checks.ts';
import { Abort, PG_DATA_ON_VOLUME, type RehearsalContext, type Scenario } from '../context.ts';

export const stop: Scenario = {
  name: 'stop',
  async run(ctx: RehearsalContext) {
    const m = ctx.runningMachine('stop');
    if (!(await ctx.powerOff(m, 'stop'))) throw new Abort('stop');
    await ctx.check(
      'stop: the agent stopped the stack gracefully (Postgres stand-in: clean shutdown)',
      async () => {
        const mnt = await mkdtemp(path.join(ctx.runDir, 'inspect-'));
        await runChecked(ctx.shell, 'mount', ['-o', 'ro,noload', ctx.world.loop.device, mnt]);
        try {
          const dir = path.join(mnt, PG_DATA_ON_VOLUME);
          const shutdowns = await readFile(path.join(dir, 'rehearsal-shutdowns.log'), 'utf8').catch(() => '');
          const pidLeft = await readFile(path.join(dir, 'postmaster.pid'), 'utf8').then(
            () => true,
            () => false,
          );
          if (!shutdowns.trim())
            fail('no clean shutdown recorded in /data/postgres (SIGTERM never reached Postgres)');
          if (pidLeft) fail('postmaster.pid is still there: Postgres did not shut down cleanly');
          return shutdowns.trim().split('\n').pop();
        } finally {
          await runChecked(ctx.shell, 'umount', [mnt]);
        }
      },
    );
  },
};
