import { parseCommandArgs } from '../../shared/cli-args.ts';
import { HostError } from '../../shared/errors.ts';
import type { CliContext } from '../context.ts';
import { DEPLOYMENT_HELP, deploymentFlags, deploymentFrom } from './common.ts';

export const apiKeyHelp = `Usage: dalston-aws api-key [--parameter NAME] [deployment flags]

Prints the Dalston admin API key the host generated at its first boot and
stored as an SSM SecureString (read with your AWS credentials, decrypted).
Only the key goes to stdout:

  export DALSTON_API_KEY=$(dalston-aws api-key)
  curl -H "Authorization: Bearer $DALSTON_API_KEY" …

  --parameter NAME   the SSM parameter (DALSTON_API_KEY_PARAMETER; output api_key_parameter)

${DEPLOYMENT_HELP}
`;

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
