import { ExitCode, exitCodeFor, HostError, UsageError } from '../shared/errors.ts';
import { ZxShell } from '../shared/shell.ts';
import { systemClock } from '../shared/time/clock.ts';
import { hostVersion } from '../shared/version.ts';
import { apiKeyCommand, apiKeyHelp } from './commands/api-key.ts';
import { backupsCommand, backupsHelp } from './commands/backups.ts';
import { costCommand, costHelp } from './commands/cost.ts';
import { deployCommand, deployHelp } from './commands/deploy.ts';
import { downCommand, downHelp } from './commands/down.ts';
import { keepAwakeCommand, keepAwakeHelp } from './commands/keep-awake.ts';
import { sshCommand, sshHelp } from './commands/ssh.ts';
import { statusCommand, statusHelp } from './commands/status.ts';
import { upCommand, upHelp } from './commands/up.ts';
import { verifyCommand, verifyHelp } from './commands/verify.ts';
import { waitCommand, waitHelp } from './commands/wait.ts';
import {
  type CliContext,
  fetchGatewayProbe,
  sdkEc2,
  sdkObjects,
  sdkParameterReader,
  sdkProfileRegion,
  spawnInteractive,
} from './context.ts';
import { mapAwsError } from './errors.ts';

export const mainHelp = `Usage: dalston-aws <command> [flags]

Start, stop and watch a dalston-host instance from your laptop.

Commands:
  up       start the instance and wait until the stack is healthy (--for 4h: keep it awake that long)
  down     stop the instance (the data volume stays) and wait until stopped
  status   one screen: instance, cost, heartbeat, idle countdown, why it stopped, services (--json)
  wait     wait until the stack is healthy, showing progress
  deploy   after \`terraform apply\`: desired vs running, wait until the host has converged
           (--ref/--image-tag/--services: edit the desired state first)
  ssh      open a shell on the host over Tailscale (or --ssm for Session Manager)
  backups  list the Postgres backups in the bucket (time, size, revision, age)
  keep-awake DUR | --clear
           keep a running host from stopping itself for DUR (30m, 4h, 1h30m)
  cost     this month's cost from the recorded running hours, next to always-on
  api-key  print the Dalston admin API key the host generated (from SSM)
  verify   end to end: instance, heartbeat, gateway, API key, a test transcription, its S3 artifacts

Run \`dalston-aws <command> --help\` for its flags. The deployment is found from
flags, then DALSTON_INSTANCE_ID / AWS_REGION / DALSTON_BUCKET / AWS_PROFILE,
then \`terraform output -json\` of infra/terraform/environments/dev (or --tf-dir).
`;

interface Command {
  run(args: readonly string[], ctx: CliContext): Promise<number>;
  help: string;
}
export const COMMANDS: Record<string, Command> = {
  up: { run: upCommand, help: upHelp },
  down: { run: downCommand, help: downHelp },
  status: { run: statusCommand, help: statusHelp },
  wait: { run: waitCommand, help: waitHelp },
  deploy: { run: deployCommand, help: deployHelp },
  ssh: { run: sshCommand, help: sshHelp },
  backups: { run: backupsCommand, help: backupsHelp },
  'keep-awake': { run: keepAwakeCommand, help: keepAwakeHelp },
  cost: { run: costCommand, help: costHelp },
  'api-key': { run: apiKeyCommand, help: apiKeyHelp },
  verify: { run: verifyCommand, help: verifyHelp },
};

export function defaultContext(overrides: Partial<CliContext> = {}): CliContext {
  const env = overrides.env ?? process.env;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env,
    clock: systemClock,
    shell: new ZxShell(),
    ec2: sdkEc2,
    objects: sdkObjects(env),
    parameters: sdkParameterReader,
    interactive: spawnInteractive,
    gateway: fetchGatewayProbe,
    profileRegion: sdkProfileRegion,
    ...overrides,
  };
}

/** Entry point of the `dalston-aws` bin; returns the exit code, never throws. */
export async function dalstonAwsMain(argv: string[], io: Partial<CliContext> = {}): Promise<number> {
  const ctx = defaultContext(io);
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      (cmd === undefined ? ctx.stderr : ctx.stdout).write(mainHelp);
      return cmd === undefined ? ExitCode.usage : ExitCode.ok;
    }
    if (cmd === '--version' || cmd === '-V') {
      const v = hostVersion();
      ctx.stdout.write(`dalston-aws ${v.version} (${v.commit})\n`);
      return ExitCode.ok;
    }
    const command = COMMANDS[cmd];
    if (!command) {
      throw new UsageError(
        cmd.startsWith('-')
          ? `put the command first: dalston-aws <command> ${cmd} …`
          : `unknown command "${cmd}" (expected one of ${Object.keys(COMMANDS).join(', ')})`,
      );
    }
    return await command.run(rest, ctx);
  } catch (err) {
    // Anything the SDK let through unmapped still becomes one line, never a stack trace.
    const e =
      err instanceof HostError ? err : mapAwsError(err, { action: cmd ?? 'dalston-aws', resource: 'AWS' });
    ctx.stderr.write(`dalston-aws: ${e.message}\n`);
    if (e instanceof UsageError) ctx.stderr.write(`\n${COMMANDS[cmd ?? '']?.help ?? mainHelp}`);
    if (ctx.env.DALSTON_DEBUG && err instanceof Error && err.stack) ctx.stderr.write(`${err.stack}\n`);
    return exitCodeFor(e);
  }
}
