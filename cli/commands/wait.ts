import { parseCommandArgs } from '../../shared/cli-args.ts';
import type { CliContext } from '../context.ts';
import { createProgress } from '../render/progress.ts';
import { waitUntilHealthy } from '../wait-phases.ts';
import {
  deploymentFlags,
  deploymentFrom,
  gatewayToCheck,
  timeoutFlag,
  warnBootstrapFailure,
} from './common.ts';
import { waitHelp } from './help-texts.ts';

export async function waitCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, {
    ...deploymentFlags,
    timeout: { type: 'string' },
    'check-gateway': { type: 'boolean' },
    host: { type: 'string' },
    'gateway-url': { type: 'string' },
  });
  if (values.help) {
    ctx.stdout.write(waitHelp);
    return 0;
  }
  const timeoutMs = timeoutFlag(values.timeout, 10 * 60_000);
  const wantsHost = values['check-gateway'] && !values['gateway-url'];
  const d = await deploymentFrom(values, ctx, [
    'instanceId',
    'region',
    'bucket',
    ...(wantsHost ? (['tailscaleHostname'] as const) : []),
  ]);
  const progress = createProgress(ctx.stderr, ctx.clock, ctx.env);
  const result = await waitUntilHealthy(
    {
      instanceId: d.instanceId,
      bucket: d.bucket!,
      statusPrefix: d.statusPrefix,
      region: d.region,
      timeoutMs,
      gatewayUrl: gatewayToCheck(values, d),
    },
    { ec2: ctx.ec2(d), objects: ctx.objects(d), clock: ctx.clock, progress, gateway: ctx.gateway },
  );
  ctx.stdout.write(`dalston is healthy on ${d.instanceId}\n`);
  warnBootstrapFailure(ctx, result);
  return 0;
}
