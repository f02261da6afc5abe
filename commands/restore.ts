import { type CommandIO, wireRestore } from '../backup/context.ts';
import { acquireLock } from '../backup/lock.ts';
import { restoreBackup } from '../backup/restore.ts';
import { lockFile } from '../shared/backup/maintenance-lease.ts';
import { configFlag, parseCommandArgs } from '../shared/cli-args.ts';
import { loadConfig } from '../shared/config/load.ts';
import { DEFAULT_CONFIG_PATH } from '../shared/config/schema.ts';
import { UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';

/**
 * `dalston-host restore [KEY | --latest] [--yes] [--force]`: replaces the
 * database with a backup from S3 (backup/restore.ts). Exit 0 restored and
 * healthy, 1 failed (the message says whether anything changed), 2 usage (or
 * no --yes without a terminal), 65 the backup was refused before anything was
 * touched, 75 another backup or restore is running, 78 bad config.
 */
export async function restoreCommand(args: string[], io?: Partial<CommandIO>): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      ...configFlag,
      latest: { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
      force: { type: 'boolean' },
    },
    { allowPositionals: true },
  );
  if (positionals.length > 1) throw new UsageError(`one backup key at most, got ${positionals.length}`);
  const key = positionals[0] ?? null;
  if ((key === null) === (values.latest !== true)) {
    throw new UsageError('name the backup: a KEY (see dalston-aws backups) or --latest');
  }
  const { config } = await loadConfig(values.config ?? DEFAULT_CONFIG_PATH, {
    mustExist: values.config !== undefined,
  });
  const full: CommandIO = {
    stdout: io?.stdout ?? process.stdout,
    stdin: io?.stdin ?? process.stdin,
    logger: io?.logger ?? createLogger({ name: 'dalston-restore' }),
  };
  const wired = await wireRestore(config, full);
  try {
    const lock = await acquireLock(lockFile(config.backup.runDir), 'restore');
    try {
      await restoreBackup(wired.deps, {
        key,
        latest: values.latest === true,
        yes: values.yes === true,
        force: values.force === true,
      });
    } finally {
      await lock.release();
    }
  } finally {
    wired.close();
  }
  return 0;
}
