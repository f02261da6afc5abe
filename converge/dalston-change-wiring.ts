/**
 * The real parts of a Dalston change, from the running host.json: the process
 * shell, the Docker client, the system clock and `dalston-host backup`'s own
 * function (under the backup lock, recorded in the backup state file like any
 * other backup, trigger `before-upgrade`).
 */
import { type CommandIO, wireBackup } from '../backup/context.ts';
import { acquireLock } from '../backup/lock.ts';
import { MaintenanceHold } from '../backup/maintenance-hold.ts';
import { takeBackup } from '../backup/run-backup.ts';
import { leaseFile, lockFile } from '../shared/backup/maintenance-lease.ts';
import type { HostConfig } from '../shared/config/schema.ts';
import { DockerodeClient, dockerodeFromEnv } from '../shared/engine/docker/dockerode-client.ts';
import type { Logger } from '../shared/logger.ts';
import { ProcessShell } from '../shared/process-shell.ts';
import { systemClock } from '../shared/time/clock.ts';
import type { DalstonChangeDeps } from './dalston-change.ts';

/** Where the host's compose env (DALSTON_IMAGE_TAG, DALSTON_REF, …) lives; host.json's `compose.envFiles` lists it. */
export const COMPOSE_ENV_FILE = '/etc/dalston/compose.env';

/** The pre-change backup through the backup command's own wiring, lock and state file. */
export async function backupBeforeChange(running: HostConfig, logger: Logger): Promise<{ key: string }> {
  const io: CommandIO = {
    // Not a terminal: the backup reports as JSON lines through the logger.
    stdout: { write: () => true, isTTY: false },
    stdin: process.stdin,
    logger,
  };
  const wired = await wireBackup(running, io);
  try {
    const lock = await acquireLock(lockFile(running.backup.runDir), 'backup');
    try {
      return { key: (await takeBackup(wired.deps, 'before-upgrade')).key };
    } finally {
      await lock.release();
    }
  } finally {
    wired.close();
  }
}

/** The maintenance lease the agent honours (the one `dalston-host restore` takes), held by sync. */
export function holdForChange(running: HostConfig) {
  return (services: string[], reason: string) =>
    MaintenanceHold.begin(leaseFile(running.backup.runDir), {
      reason,
      holder: 'dalston-host sync',
      services,
    });
}

export function wireDalstonChange(
  running: HostConfig,
  logger: Logger,
  opts: { composeEnvFile?: string } = {},
): DalstonChangeDeps {
  return {
    shell: new ProcessShell(),
    docker: new DockerodeClient(dockerodeFromEnv(), { callTimeoutMs: 30_000 }),
    clock: systemClock,
    logger,
    backup: running.s3.bucket ? (config) => backupBeforeChange(config, logger) : null,
    maintenance: holdForChange(running),
    paths: { composeEnvFile: opts.composeEnvFile ?? COMPOSE_ENV_FILE },
  };
}
