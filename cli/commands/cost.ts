import { parseCommandArgs } from '../../shared/cli-args.ts';
import { ConfigError, UsageError } from '../../shared/errors.ts';
import { monthOf, runningHoursKey, runningMonthSchema } from '../../shared/idle/running-hours.ts';
import type { CliContext } from '../context.ts';
import { estimateMonthCost, type MonthCostReport } from '../cost-report.ts';
import { formatUsd } from '../render/format.ts';
import { deploymentFlags, deploymentFrom } from './common.ts';
import { costHelp } from './help-texts.ts';

export async function costCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, {
    ...deploymentFlags,
    month: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    ctx.stdout.write(costHelp);
    return 0;
  }
  const now = ctx.clock.now();
  const month = values.month ?? monthOf(now);
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month))
    throw new UsageError(`--month "${month}" is not a month (e.g. 2026-12)`);
  const d = await deploymentFrom(values, ctx, ['instanceId', 'region', 'bucket']);
  const ec2 = ctx.ec2(d);
  const inst = await ec2.describeInstance(d.instanceId);
  const volumes = await ec2.describeVolumes(inst.volumeIds);

  const key = runningHoursKey(d.statusPrefix, d.instanceId, month);
  const obj = await ctx.objects(d).getText(d.bucket!, key);
  let running = null;
  if (obj) {
    let raw: unknown;
    try {
      raw = JSON.parse(obj.body);
    } catch (err) {
      throw new ConfigError(key, `s3://${d.bucket}/${key} is not JSON (${(err as Error).message})`);
    }
    const r = runningMonthSchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new ConfigError(
        key,
        `s3://${d.bucket}/${key} has the wrong shape at ${issue?.path.join('.') || '(root)'}`,
      );
    }
    running = r.data;
  }
  const live = inst.state === 'running' || inst.state === 'pending';
  const report = estimateMonthCost({
    month,
    nowMs: now,
    instanceType: inst.type,
    volumes,
    running,
    runningSince: live && month === monthOf(now) ? (inst.launchTime?.getTime() ?? null) : null,
  });
  ctx.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderCost(report));
  return 0;
}

export function renderCost(r: MonthCostReport): string {
  const h = (n: number) => `${n.toFixed(1)} h`;
  const lines = [
    `cost estimate for ${r.month} (${r.instanceType} at ${r.hourlyUsd === null ? 'unknown' : `$${r.hourlyUsd}/h`}, EBS ${formatUsd(r.storageMonthlyUsd)}/month)`,
    `  so far      ${formatUsd(r.soFar.totalUsd).padStart(9)}  ${h(r.soFar.runningHours)} running of ${h(r.elapsedHours)} elapsed`,
    `  projected   ${formatUsd(r.projected.totalUsd).padStart(9)}  ~${h(r.projected.runningHours)} running of ${r.hoursInMonth} h`,
    `  always on   ${formatUsd(r.alwaysOn.totalUsd).padStart(9)}  ${r.hoursInMonth} h running`,
    `  stopped     ${formatUsd(r.storageMonthlyUsd).padStart(9)}  storage only (the floor)`,
    '  assumed:',
    ...r.assumptions.map((a) => `    - ${a}`),
  ];
  return `${lines.join('\n')}\n`;
}
