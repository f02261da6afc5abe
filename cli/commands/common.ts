import type { parseCommandArgs } from '../../shared/cli-args.ts';
import { UsageError } from '../../shared/errors.ts';
import { describeFailure } from '../bootstrap-view.ts';
import type { CliContext } from '../context.ts';
import { type Deployment, type Need, resolveDeployment } from '../deployment.ts';
import { gatewayHealthUrl, gatewayUrl } from '../gateway-url.ts';
import { parseDuration } from '../render/format.ts';
import type { WaitResult } from '../wait-phases.ts';

/** Flags every command accepts: where the deployment is. */
export const deploymentFlags = {
  'instance-id': { type: 'string' as const },
  region: { type: 'string' as const },
  bucket: { type: 'string' as const },
  profile: { type: 'string' as const },
  'tf-dir': { type: 'string' as const },
  help: { type: 'boolean' as const, short: 'h' },
};

type Parsed = ReturnType<typeof parseCommandArgs<typeof deploymentFlags>>['values'];

export async function deploymentFrom(
  values: Partial<Parsed> & {
    host?: string | undefined;
    user?: string | undefined;
    parameter?: string | undefined;
  },
  ctx: CliContext,
  needs: readonly Need[],
): Promise<Deployment> {
  return resolveDeployment(
    {
      instanceId: values['instance-id'],
      region: values.region,
      bucket: values.bucket,
      profile: values.profile,
      tfDir: values['tf-dir'],
      host: values.host,
      user: values.user,
      apiKeyParameter: values.parameter,
    },
    ctx.env,
    ctx.shell,
    needs,
    (profile) => ctx.profileRegion(profile),
  );
}

export function timeoutFlag(value: string | undefined, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  const ms = parseDuration(value);
  if (ms === null || ms <= 0)
    throw new UsageError(`--timeout "${value}" is not a duration (e.g. 90s, 10m, 1h)`);
  return ms;
}

export function gatewayUrlFor(host: string): string {
  return gatewayHealthUrl(gatewayUrl(host));
}

/** The gateway URL `--check-gateway` waits for (`--gateway-url`, else the Tailscale host's), or null. */
export function gatewayToCheck(
  values: { 'check-gateway'?: boolean | undefined; 'gateway-url'?: string | undefined },
  d: Deployment,
): string | null {
  if (!values['check-gateway']) return null;
  return values['gateway-url'] ?? gatewayUrlFor(d.tailscaleHostname!);
}

/** Healthy, but this start's bootstrap failed (say, only Tailscale): said last, so it is not missed. */
export function warnBootstrapFailure(ctx: CliContext, result: WaitResult): void {
  const f = result.bootstrapFailure;
  if (!f) return;
  ctx.stderr.write(
    `dalston-aws: warning: the stack is healthy, but this start's ${describeFailure(f)}; next: ${f.next[0] ?? ''}\n`,
  );
}
