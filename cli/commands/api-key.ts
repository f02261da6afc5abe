import { parseCommandArgs } from '../../shared/cli-args.ts';
import { HostError } from '../../shared/errors.ts';
import type { CliContext } from '../context.ts';
import { deploymentFlags, deploymentFrom } from './common.ts';
import { apiKeyHelp } from './help-texts.ts';

/** Pure: what to do when the parameter does not exist yet. */
export function missingKeyMessage(parameter: string): string {
  return (
    `no API key in SSM parameter ${parameter} yet. The host stores it once its first boot reaches the ` +
    "bootstrap's api-key step: see the bootstrap row of `dalston-aws status`. A host bootstrapped before " +
    'this release stores it after `dalston-aws ssh`, then `sudo dalston-host bootstrap --steps secrets,api-key`; ' +
    'on the host the key is also the DALSTON_API_KEY line of /data/secrets/compose.env (root only)'
  );
}

export async function apiKeyCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, { ...deploymentFlags, parameter: { type: 'string' } });
  if (values.help) {
    ctx.stdout.write(apiKeyHelp);
    return 0;
  }
  const d = await deploymentFrom(values, ctx, ['region', 'apiKeyParameter']);
  const parameter = d.apiKeyParameter!;
  const key = await ctx.parameters(d).getSecure(parameter);
  if (key === null) throw new HostError('failure', missingKeyMessage(parameter));
  ctx.stdout.write(`${key}\n`);
  return 0;
}
