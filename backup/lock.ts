import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HostError } from '../shared/errors.ts';
import { pidAlive } from '../shared/process-alive.ts';

/**
 * One backup or restore at a time on a host (`<backup.runDir>/backup.lock`):
 * the nightly timer must not dump while a restore rewrites the database, and
 * two restores must not interleave. The file holds the owner's PID; a lock
 * whose owner is gone (crash, kill -9) is taken over. /run is tmpfs, so a
 * reboot clears it anyway.
 */
export interface Lock {
  release(): Promise<void>;
}

export interface LockBody {
  pid: number;
  what: string;
  since: string;
}

export async function acquireLock(path: string, what: string, alive = pidAlive): Promise<Lock> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const body: LockBody = { pid: process.pid, what, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(body)}\n`);
      } finally {
        await fh.close();
      }
      return {
        async release() {
          const now = await readLockOwner(path);
          if (now?.pid === process.pid) await unlink(path).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = await readLockOwner(path);
      if (owner && owner.pid !== process.pid && alive(owner.pid)) {
        throw new HostError(
          'busy',
          `another ${owner.what} is running (pid ${owner.pid}, since ${owner.since}); try again when it has finished`,
        );
      }
      // Its owner is gone: the lock is stale.
      await unlink(path).catch(() => {});
    }
  }
  throw new HostError('busy', `could not take the lock ${path}`);
}

/** Who holds the lock (null: nobody, or a file that says nothing); the agent's idle stop reads it too. */
export async function readLockOwner(path: string): Promise<LockBody | null> {
  try {
    const o = JSON.parse(await readFile(path, 'utf8')) as Partial<LockBody>;
    return typeof o.pid === 'number'
      ? { pid: o.pid, what: String(o.what ?? 'backup or restore'), since: String(o.since ?? '?') }
      : null;
  } catch {
    return null;
  }
}
