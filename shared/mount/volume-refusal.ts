/**
 * The bootstrap's refusal of a data volume, passed to the agent. When the
 * bootstrap refuses a disk at boot (a snapshot copy with the same filesystem
 * UUID beside the volume, an unknown filesystem, a non-empty root-disk dataDir),
 * systemd may still have mounted *something* at dataDir from fstab, and the
 * agent's mount check alone would accept it. The refusal is written on /run (a
 * reboot clears it), removed by the next bootstrap run that mounts the volume,
 * and the agent will not start the stack while it is there. The bootstrap's
 * runner writes and clears it (bootstrap/runner.ts).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const VOLUME_REFUSAL_FILE = '/run/dalston/data-volume-refused.json';

export const volumeRefusalSchema = z.object({ step: z.string(), message: z.string(), at: z.string() });
export type VolumeRefusal = z.infer<typeof volumeRefusalSchema>;

/** The refusal in force, or null. An unreadable file counts as a refusal: it was written for a reason. */
export async function readVolumeRefusal(path: string = VOLUME_REFUSAL_FILE): Promise<VolumeRefusal | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { step: 'unknown', message: `${path} cannot be read: ${(err as Error).message}`, at: '' };
  }
  try {
    return volumeRefusalSchema.parse(JSON.parse(text));
  } catch {
    return { step: 'unknown', message: `${path} is malformed: ${text.slice(0, 200)}`, at: '' };
  }
}
