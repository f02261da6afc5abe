import { constants } from 'node:fs';
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` so that a crash leaves either the old or the new file:
 * temp file in the same directory, fsync, rename, fsync the directory.
 * `beforeRename` may validate the temp file (and throw to abandon it).
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number; backup?: string; beforeRename?: (tempPath: string) => Promise<void> } = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.dalston-host-${process.pid}-${Date.now()}.tmp`);
  const fh = await open(temp, 'wx', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (opts.mode !== undefined) await fh.chmod(opts.mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (opts.beforeRename) await opts.beforeRename(temp);
    if (opts.backup) {
      try {
        await copyFile(path, opts.backup);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const d = await open(dir, constants.O_RDONLY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
