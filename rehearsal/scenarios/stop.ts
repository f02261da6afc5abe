/**
 * A clean stop of the running instance: the agent stops the stack before
 * shutdown, and Postgres finds time to shut down cleanly: pg_controldata on
 * the volume, read on the host after power-off. The journal side of the stop
 * is checked by the second boot, which can read the previous boot's journal.
 */
import { clusterState, parseControlData } from '../../test/harness/postgres-state.ts';
import { fail } from '../checks.ts';
import { Abort, PG_DATA_ON_VOLUME, type RehearsalContext, type Scenario } from '../context.ts';
import { controlDataOnVolume } from '../world/db-images.ts';

export const stop: Scenario = {
  name: 'stop',
  async run(ctx: RehearsalContext) {
    const m = ctx.runningMachine('stop');
    if (!(await ctx.powerOff(m, 'stop'))) throw new Abort('stop');
    await ctx.check('stop: the agent stopped the stack gracefully (Postgres: clean shutdown)', async () => {
      const w = ctx.world;
      const out = await controlDataOnVolume(ctx.shell, w.dbRootfs, w.loop.device, PG_DATA_ON_VOLUME);
      const state = clusterState(out);
      if (state !== 'shut down')
        fail(
          `pg_controldata on /data/${PG_DATA_ON_VOLUME}: "Database cluster state: ${state ?? '?'}" (a clean shutdown is "shut down")`,
        );
      const checkpoint = parseControlData(out)['Time of latest checkpoint'];
      return `pg_controldata on the volume: Database cluster state: shut down (last checkpoint ${checkpoint})`;
    });
  },
};
