import { ConfigError, ExitCode, exitCodeFor, HostError, UsageError } from '../shared/errors.ts';

/**
 * `dalston-host <command>`: the single entry point on the host. Commands are
 * loaded lazily so `version` and `--help` stay instant and a broken import in
 * one command cannot take the others down.
 */
export interface CommandSpec {
  summary: string;
  usage: string;
  load: () => Promise<(args: string[]) => Promise<number>>;
  /** The command's own long help (e.g. the bootstrap's step list), shown for --help instead of usage. */
  help?: () => Promise<string>;
}

export const COMMANDS: Record<string, CommandSpec> = {
  agent: {
    summary: 'supervise the Dalston compose stack (runs as dalston.service)',
    usage: 'dalston-host agent [--config FILE]',
    load: async () => (await import('../agent/command.ts')).agentCommand,
  },
  bootstrap: {
    summary: 'prepare this host: data volume, fstab, Docker, Dalston, units',
    usage: 'dalston-host bootstrap [--config FILE] [--root DIR] [--steps s1,s2,...] [--dry-run]',
    load: async () => (await import('../bootstrap/command.ts')).bootstrapCommand,
    help: async () => (await import('../bootstrap/command.ts')).BOOTSTRAP_USAGE,
  },
  backup: {
    summary: 'dump Postgres to S3 now (dalston-backup.timer runs it nightly)',
    usage: 'dalston-host backup [--config FILE]',
    load: async () => (await import('./backup.ts')).backupCommand,
  },
  restore: {
    summary: 'replace the database with a backup from S3 (checked first, safety backup, maintenance)',
    usage: 'dalston-host restore [KEY | --latest] [--yes] [--force] [--config FILE]',
    load: async () => (await import('./restore.ts')).restoreCommand,
  },
  sync: {
    summary: 'converge this host to its desired state in S3 (release, host settings, Dalston)',
    usage: 'dalston-host sync [--config FILE]',
    load: async () => (await import('./sync.ts')).syncCommand,
  },
  status: {
    summary: "print the local agent's status (GET /status on agent.listen); exit 0 only when healthy",
    usage: 'dalston-host status [--config FILE] [--json]',
    load: async () => (await import('./status.ts')).statusCommand,
  },
  config: {
    summary: 'validate the config file and print it with defaults filled in',
    usage: 'dalston-host config [--config FILE]',
    load: async () => (await import('./config.ts')).configCommand,
  },
  version: {
    summary: 'print version and git commit',
    usage: 'dalston-host version',
    load: async () => (await import('./version.ts')).versionCommand,
  },
};

export function usageText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: dalston-host <command> [flags]',
    '',
    'commands:',
    ...lines,
    '',
    'Every command reads /etc/dalston/host.json unless --config names another file.',
    'Exit codes: 0 ok, 1 failure, 2 usage, 3 data volume not mounted, 65 unsafe disk or',
    'backup refused, 69 data volume not found (sync: desired state unreadable), 75 another',
    'backup/restore/sync running, 78 bad config (sync: invalid desired state).',
  ].join('\n');
}

export interface MainIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIO: MainIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

export async function main(argv: string[], io: MainIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(`${usageText()}\n`);
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === '--version' || name === '-V') return main(['version', ...rest], io);
  const spec = COMMANDS[name];
  if (!spec) {
    io.stderr(`dalston-host: unknown command '${name}'\n\n${usageText()}\n`);
    return ExitCode.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(spec.help ? `${await spec.help()}\n` : `usage: ${spec.usage}\n  ${spec.summary}\n`);
    return ExitCode.ok;
  }
  try {
    const run = await spec.load();
    return await run(rest);
  } catch (err) {
    return reportFailure(err, name, spec, io);
  }
}

function reportFailure(err: unknown, name: string, spec: CommandSpec, io: MainIO): number {
  if (err instanceof UsageError) {
    io.stderr(`dalston-host ${name}: ${err.message}\nusage: ${spec.usage}\n`);
  } else if (err instanceof ConfigError || err instanceof HostError) {
    io.stderr(`dalston-host ${name}: ${err.message}\n`);
  } else {
    const e = err as Error;
    io.stderr(`dalston-host ${name}: ${e?.stack ?? String(err)}\n`);
  }
  return exitCodeFor(err);
}
