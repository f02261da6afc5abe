import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../bootstrap/atomic-write.ts';
import {
  type BackupRun,
  type BackupState,
  type BackupSuccess,
  EMPTY_BACKUP_STATE,
  readBackupState,
  recordRun,
} from '../shared/backup/backup-state.ts';

/**
 * Records one backup run in the state file the agent reads: read (a damaged
 * file starts over, keeping nothing it cannot trust), update, replace
 * atomically so the agent never reads half a file.
 */
export async function recordBackupRun(
  path: string,
  run: BackupRun,
  success: BackupSuccess | null,
): Promise<BackupState> {
  const prev = await readBackupState(path);
  const next = recordRun(prev.kind === 'ok' ? prev.state : EMPTY_BACKUP_STATE, run, success);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o644 });
  return next;
}
