import { parseCommandArgs } from '../../shared/cli-args.ts';
import { HostError } from '../../shared/errors.ts';
import type { CliContext } from '../context.ts';
import { buildLease, operatorName, parseLeaseDuration, writeLease } from '../keep-awake.ts';
import { formatTime } from '../render/format.ts';
import { createProgress } from '../render/progress.ts';
import { waitForInstanceState, waitUntilHealthy } from '../wait-phases.ts';
import {
  deploymentFlags,
  deploymentFrom,
  gatewayToCheck,
  timeoutFlag,
  warnBootstrapFailure,
} from './common.ts';
import { upHelp } from './help-texts.ts';

export const upFlags = {
  ...deploymentFlags,
  for: { type: 'string' as const },
  timeout: { type: 'string' as const },
  'check-gateway': { type: 'boolean' as const },
  host: { type: 'string' as const },
  'gateway-url': { type: 'string' as const },
  'no-wait': { type: 'boolean' as const },
};

export async function upCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, upFlags);
  if (values.help) {
    ctx.stdout.write(upHelp);
    return 0;
  }
  const timeoutMs = timeoutFlag(values.timeout, 10 * 60_000);
  // Parsed before any AWS call: a typo must not start an instance without its lease.
  const leaseMs = values.for === undefined ? null : parseLeaseDuration(values.for, '--for');
  const noWait = values['no-wait'] === true;
  const wantsHost = values['check-gateway'] && !values['gateway-url'];
  const d = await deploymentFrom(values, ctx, [
    'instanceId',
    'region',
    ...(noWait && leaseMs === null ? [] : (['bucket'] as const)),
    ...(wantsHost && !noWait ? (['tailscaleHostname'] as const) : []),
  ]);
  const ec2 = ctx.ec2(d);
  const progress = createProgress(ctx.stderr, ctx.clock, ctx.env);

  let inst = await ec2.describeInstance(d.instanceId);
  if (inst.state === 'terminated' || inst.state === 'shutting-down') {
    throw new HostError('failure', `instance ${d.instanceId} is ${inst.state}: it cannot be started`);
  }
  if (inst.state === 'stopping') {
    // StartInstances is refused while stopping: let the stop finish first.
    inst = await waitForInstanceState(ec2, d.instanceId, 'stopped', { timeoutMs }, ctx.clock, progress);
  }
  // No release here: the instance is not tagged with one (what runs is the heartbeat's agent version).
  const what = `${d.instanceId}${inst.name ? ` (${inst.name})` : ''}, ${inst.type}`;
  let leaseLine = '';
  if (leaseMs !== null) {
    // The lease goes first, so the agent's very first idle poll already sees it.
    const lease = buildLease(
      ctx.clock.now(),
      leaseMs,
      `dalston-aws up --for ${values.for} (${operatorName(ctx.env)})`,
    );
    const key = await writeLease(
      ctx.objects(d),
      { bucket: d.bucket!, statusPrefix: d.statusPrefix, instanceId: d.instanceId },
      lease,
    );
    leaseLine = `, kept awake until ${formatTime(lease.until)} (s3://${d.bucket}/${key})`;
  }
  let justStarted = false;
  if (inst.state === 'stopped') {
    const now = await ec2.startInstance(d.instanceId);
    justStarted = true;
    progress.note(`waking ${what}${leaseLine}: ${now}`);
  } else {
    progress.note(`${d.instanceId} is already ${inst.state}${leaseLine}`);
  }
  if (noWait) return 0;

  const result = await waitUntilHealthy(
    {
      instanceId: d.instanceId,
      bucket: d.bucket!,
      statusPrefix: d.statusPrefix,
      region: d.region,
      timeoutMs,
      gatewayUrl: gatewayToCheck(values, d),
      justStarted,
    },
    { ec2, objects: ctx.objects(d), clock: ctx.clock, progress, gateway: ctx.gateway },
  );
  ctx.stdout.write(`dalston is up on ${d.instanceId}\n`);
  warnBootstrapFailure(ctx, result);
  return 0;
}
