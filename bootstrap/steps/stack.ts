import { runChecked } from '../../shared/shell.ts';
import { done, planned, type Step, skipped, unchanged } from './step.ts';
import { STACK_UNIT } from './units.ts';

/**
 * Pure: the systemctl call that brings the stack up, or none. Start
 * dalston.service unless it is active; restart it only when its own unit (or
 * a drop-in of it) changed in this run, since a restart stops the stack.
 * `--no-block`: dalston.service is Type=notify and sends READY=1 only after
 * its first `compose up`, which may pull images for longer than a boot script
 * should wait; and under dalston-bootstrap.service (ordered Before= it) a
 * blocking start would wait for ourselves. The agent reports its own progress.
 */
export function planStackStart(active: boolean, unitChanged: boolean): string[] | undefined {
  if (!active) return ['--no-block', 'start', STACK_UNIT];
  if (unitChanged) return ['--no-block', 'restart', STACK_UNIT];
  return undefined;
}

/**
 * Starts the stack once it can run: after the units, the Docker packages, the
 * Dalston checkout and the images (see STEP_NEEDS), and before Tailscale, so
 * a Tailscale failure never keeps the stack down.
 */
export const stackStep: Step = {
  name: 'stack',
  async run(ctx) {
    if (!ctx.host.systemdRunning()) {
      return skipped(`${STACK_UNIT} not started: systemd is not running (PID 1)`);
    }
    const active =
      (await ctx.shell.run('systemctl', ['is-active', '--quiet', STACK_UNIT], { timeoutMs: 60_000 }))
        .exitCode === 0;
    const call = planStackStart(active, ctx.state.unitsChanged?.includes(STACK_UNIT) ?? false);
    if (!call) return unchanged(`${STACK_UNIT} active`);
    if (ctx.dryRun) return planned([`systemctl ${call.join(' ')}`]);
    await runChecked(ctx.shell, 'systemctl', call, { timeoutMs: 2 * 60_000 });
    return done(
      active
        ? `${STACK_UNIT} restarted (its unit changed); the agent brings the stack up again`
        : `${STACK_UNIT} started; the agent brings the stack up and reports its progress`,
    );
  },
};
