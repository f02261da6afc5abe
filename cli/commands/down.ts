import { parseCommandArgs } from '../../shared/cli-args.ts';
import { HostError } from '../../shared/errors.ts';
import type { CliContext } from '../context.ts';
import { operatorName } from '../keep-awake.ts';
import { type LastStop, lastStopKey } from '../last-stop.ts';
import { createProgress } from '../render/progress.ts';
import { waitForInstanceState } from '../wait-phases.ts';
import { deploymentFlags, deploymentFrom, timeoutFlag } from './common.ts';
import { downHelp } from './help-texts.ts';

export async function downCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, {
    ...deploymentFlags,
    'no-wait': { type: 'boolean' },
    timeout: { type: 'string' },
  });
  if (values.help) {
    ctx.stdout.write(downHelp);
    return 0;
  }
  const timeoutMs = timeoutFlag(values.timeout, 10 * 60_000);
  const d = await deploymentFrom(values, ctx, ['instanceId', 'region']);
  const ec2 = ctx.ec2(d);
  const progress = createProgress(ctx.stderr, ctx.clock, ctx.env);

  const inst = await ec2.describeInstance(d.instanceId);
  if (inst.state === 'stopped') {
    ctx.stdout.write(`${d.instanceId} is already stopped\n`);
    return 0;
  }
  if (inst.state === 'terminated' || inst.state === 'shutting-down') {
    throw new HostError('failure', `instance ${d.instanceId} is ${inst.state}: nothing to stop`);
  }
  if (inst.state !== 'stopping') {
    // Recorded before the call, so it exists even with --no-wait or Ctrl-C. Stopping matters
    // more than the record: a failed write is a warning, never a reason not to stop.
    const record: LastStop = {
      by: 'dalston-aws down',
      operator: operatorName(ctx.env),
      at: new Date(ctx.clock.now()).toISOString(),
    };
    try {
      await ctx
        .objects(d)
        .putText(d.bucket!, lastStopKey(d.statusPrefix, d.instanceId), `${JSON.stringify(record)}\n`);
    } catch (err) {
      if (!(err instanceof HostError)) throw err;
      progress.note(
        `warning: could not record the stop (${err.message}); status will not know it was \`down\``,
      );
    }
    const now = await ec2.stopInstance(d.instanceId);
    progress.note(`stopping ${d.instanceId}: ${now}`);
  }
  if (values['no-wait']) return 0;
  await waitForInstanceState(ec2, d.instanceId, 'stopped', { timeoutMs }, ctx.clock, progress);
  ctx.stdout.write(`${d.instanceId} is stopped\n`);
  return 0;
}
