import { type CommandIO, wireBackup } from '../backup/context.ts';
import { acquireLock } from '../backup/lock.ts';
import { type BackupTrigger, takeBackup } from '../backup/run-backup.ts';
import { lockFile } from '../shared/backup/maintenance-lease.ts';
import { configFlag, parseCommandArgs } from '../shared/cli-args.ts';
import { loadConfig } from '../shared/config/load.ts';
import { DEFAULT_CONFIG_PATH } from '../shared/config/schema.ts';
import { UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';

const TRIGGERS: readonly BackupTrigger[] = ['manual', 'timer'];

/**
 * `dalston-host backup [--config FILE] [--trigger manual|timer]`: one Postgres
 * dump to S3 (backup/run-backup.ts). dalston-backup.service runs it with
 * `--trigger timer`. Exit 0 backed up, 1 failed (recorded for /status), 75
 * another backup or restore is running, 78 bad config (no s3.bucket).
 */
export async function backupCommand(args: string[], io?: Partial<CommandIO>): Promise<number> {
  const { values } = parseCommandArgs(args, { ...configFlag, trigger: { type: 'string' } });
  const trigger = (values.trigger ?? 'manual') as BackupTrigger;
  if (!TRIGGERS.includes(trigger)) throw new UsageError(`--trigger must be one of ${TRIGGERS.join(', ')}`);
  const { config } = await loadConfig(values.config ?? DEFAULT_CONFIG_PATH, {
    mustExist: values.config !== undefined,
  });
  const full: CommandIO = {
    stdout: io?.stdout ?? process.stdout,
    stdin: io?.stdin ?? process.stdin,
    logger: io?.logger ?? createLogger({ name: 'dalston-backup' }),
  };
  const wired = await wireBackup(config, full);
  try {
    const lock = await acquireLock(lockFile(config.backup.runDir), 'backup');
    try {
      await takeBackup(wired.deps, trigger);
    } finally {
      await lock.release();
    }
  } finally {
    wired.close();
  }
  return 0;
}
