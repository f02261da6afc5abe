import { ExitCode, exitCodeFor, HostError, UsageError } from '../shared/errors.ts';
import { systemClock } from '../shared/time/clock.ts';
import { hostVersion } from '../shared/version.ts';
import {
  apiKeyHelp,
  backupsHelp,
  costHelp,
  deployHelp,
  downHelp,
  keepAwakeHelp,
  sshHelp,
  statusHelp,
  upHelp,
  verifyHelp,
  waitHelp,
} from './commands/help-texts.ts';
import {
  type CliContext,
  fetchGatewayProbe,
  lazyShell,
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

type RunCommand = (args: readonly string[], ctx: CliContext) => Promise<number>;
interface Command {
  /** Loaded only when the command runs, so --help/--version never evaluate the commands or the AWS SDK. */
  load(): Promise<RunCommand>;
  help: string;
}
export const COMMANDS: Record<string, Command> = {
  up: { load: async () => (await import('./commands/up.ts')).upCommand, help: upHelp },
  down: { load: async () => (await import('./commands/down.ts')).downCommand, help: downHelp },
  status: { load: async () => (await import('./commands/status.ts')).statusCommand, help: statusHelp },
  wait: { load: async () => (await import('./commands/wait.ts')).waitCommand, help: waitHelp },
  deploy: { load: async () => (await import('./commands/deploy.ts')).deployCommand, help: deployHelp },
  ssh: { load: async () => (await import('./commands/ssh.ts')).sshCommand, help: sshHelp },
  backups: { load: async () => (await import('./commands/backups.ts')).backupsCommand, help: backupsHelp },
  'keep-awake': {
    load: async () => (await import('./commands/keep-awake.ts')).keepAwakeCommand,
    help: keepAwakeHelp,
  },
  cost: { load: async () => (await import('./commands/cost.ts')).costCommand, help: costHelp },
  'api-key': { load: async () => (await import('./commands/api-key.ts')).apiKeyCommand, help: apiKeyHelp },
  verify: { load: async () => (await import('./commands/verify.ts')).verifyCommand, help: verifyHelp },
};

/** `-h`/`--help` among a command's own flags (not after `--`, where ssh's remote arguments go). */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export function defaultContext(overrides: Partial<CliContext> = {}): CliContext {
  const env = overrides.env ?? process.env;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env,
    clock: systemClock,
    shell: lazyShell,
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
    if (asksForHelp(rest)) {
      ctx.stdout.write(command.help);
      return ExitCode.ok;
    }
    const run = await command.load();
    return await run(rest, ctx);
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
