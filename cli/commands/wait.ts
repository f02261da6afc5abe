import { parseCommandArgs } from '../../shared/cli-args.ts';
import type { CliContext } from '../context.ts';
import { createProgress } from '../render/progress.ts';
import { waitUntilHealthy } from '../wait-phases.ts';
import {
  DEPLOYMENT_HELP,
  deploymentFlags,
  deploymentFrom,
  gatewayToCheck,
  timeoutFlag,
  warnBootstrapFailure,
} from './common.ts';

export const waitHelp = `Usage: dalston-aws wait [--timeout 10m] [--check-gateway] [deployment flags]

Waits until the host is ready, showing the phase it is in: instance
pending → running, an agent heartbeat in S3 newer than the start (until then
the bootstrap's progress: step N/M), the stack healthy (services N/M), and
with --check-gateway the gateway's /health over Tailscale. Exit 0 when
healthy; 1 on timeout, naming the phase and the services the last snapshot
reported unhealthy (with no heartbeat: the serial console, the bootstrap
report in S3 and \`dalston-aws ssh --ssm\` to look at).

  --timeout DUR      give up after this long (default 10m; 90s, 10m, 1h)
  --check-gateway    also wait for the gateway's /health over Tailscale
  --host NAME        Tailscale host name (DALSTON_TAILSCALE_HOST; output tailscale_hostname)
  --gateway-url URL  gateway health URL (default http://<host>:8000/health)

${DEPLOYMENT_HELP}
`;

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
