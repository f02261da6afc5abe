import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupWatch } from '../../../agent/status/backup-watch.ts';
import { recordBackupRun } from '../../../backup/state-file.ts';
import { memoryLogger } from '../../unit/agent/fakes.ts';

let dir: string | undefined;
let watch: BackupWatch | undefined;
afterEach(async () => {
  watch?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the agent sees a backup the moment its state file is written (agent/status/backup-watch.ts)', () => {
  it('even when the state file directory did not exist when the agent started (first backup on a host)', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'backup-watch-'));
    const stateFile = path.join(dir, 'state', 'backup.json');
    // The periodic refresh is an hour away: only the change notice can deliver it in time.
    watch = new BackupWatch({
      stateFile,
      leaseFile: path.join(dir, 'run', 'maintenance.json'),
      logger: memoryLogger().logger,
      refreshMs: 3_600_000,
    });
    let changed = 0;
    await watch.start(() => changed++);
    expect(watch.backup()).toBeNull();
    const at = new Date().toISOString();
    await recordBackupRun(
      stateFile,
      {
        startedAt: at,
        finishedAt: at,
        result: 'success',
        trigger: 'manual',
        key: 'backups/postgres/x.dump',
        sizeBytes: 10,
        durationSeconds: 1,
        error: null,
      },
      {
        at,
        key: 'backups/postgres/x.dump',
        sizeBytes: 10,
        sha256: 'a'.repeat(64),
        alembicRevision: null,
        durationSeconds: 1,
      },
    );
    const deadline = Date.now() + 5_000;
    while (!watch.backup() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(watch.backup()?.lastSuccess?.key).toBe('backups/postgres/x.dump');
    expect(changed).toBeGreaterThan(0);
  });
});
