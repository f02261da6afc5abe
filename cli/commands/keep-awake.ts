import { parseCommandArgs } from '../../shared/cli-args.ts';
import { HostError, UsageError } from '../../shared/errors.ts';
import type { CliContext } from '../context.ts';
import { buildLease, clearLease, operatorName, parseLeaseDuration, writeLease } from '../keep-awake.ts';
import { formatTime } from '../render/format.ts';
import { deploymentFlags, deploymentFrom } from './common.ts';
import { keepAwakeHelp } from './help-texts.ts';

export async function keepAwakeCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { ...deploymentFlags, clear: { type: 'boolean' } },
    { allowPositionals: true },
  );
  if (values.help) {
    ctx.stdout.write(keepAwakeHelp);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`one duration expected, got ${positionals.join(' ')}`);
  const text = positionals[0];
  if (values.clear && text !== undefined) throw new UsageError('give a duration or --clear, not both');
  if (!values.clear && text === undefined) throw new UsageError('give a duration (e.g. 2h) or --clear');
  const ms = text === undefined ? null : parseLeaseDuration(text, 'duration');

  const d = await deploymentFrom(values, ctx, ['instanceId', 'region', 'bucket']);
  const target = { bucket: d.bucket!, statusPrefix: d.statusPrefix, instanceId: d.instanceId };
  if (ms === null) {
    const key = await clearLease(ctx.objects(d), target);
    ctx.stdout.write(`keep-awake lease cleared (s3://${d.bucket}/${key}): the idle stop applies again\n`);
    return 0;
  }
  // A lease on a stopped host would silently wait for the next start: say so instead.
  const inst = await ctx.ec2(d).describeInstance(d.instanceId);
  if (inst.state !== 'running' && inst.state !== 'pending') {
    throw new HostError(
      'failure',
      `${d.instanceId} is ${inst.state}: keep-awake is for a running host — use \`dalston-aws up --for ${text}\``,
    );
  }
  const lease = buildLease(ctx.clock.now(), ms, `dalston-aws keep-awake ${text} (${operatorName(ctx.env)})`);
  const key = await writeLease(ctx.objects(d), target, lease);
  ctx.stdout.write(
    `${d.instanceId} kept awake until ${formatTime(lease.until)} (s3://${d.bucket}/${key}); the agent sees it at its next poll\n`,
  );
  return 0;
}
