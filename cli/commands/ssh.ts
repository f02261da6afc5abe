import { parseCommandArgs } from '../../shared/cli-args.ts';
import { HostError } from '../../shared/errors.ts';
import type { CliContext } from '../context.ts';
import { deploymentFlags, deploymentFrom } from './common.ts';
import { sshHelp } from './help-texts.ts';

/** The exact program and argv `ssh` runs; pure so tests can check it. */
export function sshInvocation(
  opts: {
    ssm: boolean;
    user: string;
    host: string | null;
    instanceId: string;
    region: string;
    profile?: string | undefined;
  },
  extra: readonly string[],
): { cmd: string; args: string[] } {
  if (opts.ssm) {
    const args = ['ssm', 'start-session', '--target', opts.instanceId, '--region', opts.region];
    if (opts.profile) args.push('--profile', opts.profile);
    return { cmd: 'aws', args: [...args, ...extra] };
  }
  // OpenSSH keeps parsing options after the destination, so extra args work as options or a command.
  return { cmd: 'ssh', args: [`${opts.user}@${opts.host}`, ...extra] };
}

export async function sshCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const sep = args.indexOf('--');
  const own = sep === -1 ? args : args.slice(0, sep);
  const extra = sep === -1 ? [] : args.slice(sep + 1);
  const { values } = parseCommandArgs(own, {
    ...deploymentFlags,
    user: { type: 'string' },
    host: { type: 'string' },
    ssm: { type: 'boolean' },
  });
  if (values.help) {
    ctx.stdout.write(sshHelp);
    return 0;
  }
  const ssm = values.ssm === true;
  const d = await deploymentFrom(values, ctx, ssm ? ['instanceId', 'region'] : ['tailscaleHostname']);
  const inv = sshInvocation(
    {
      ssm,
      user: d.sshUser,
      host: d.tailscaleHostname,
      instanceId: d.instanceId,
      region: d.region,
      profile: d.profile,
    },
    extra,
  );
  try {
    return await ctx.interactive.run(inv.cmd, inv.args, ctx.env);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') {
      throw new HostError(
        'unavailable',
        ssm
          ? 'the aws CLI was not found on PATH: install AWS CLI v2 and the session-manager-plugin for --ssm'
          : 'ssh was not found on PATH: install an OpenSSH client (or use --ssm)',
      );
    }
    throw new HostError('failure', `${inv.cmd} could not be started: ${(err as Error).message}`);
  }
}
