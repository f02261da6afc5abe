import { BACKUP_SUFFIX, parseBackupMetadata, timeOfKey } from '../shared/backup/backup-object.ts';
import type { ObjectReader } from './aws/snapshots.ts';

/** One backup object as `dalston-aws backups` shows it. */
export interface BackupRow {
  key: string;
  /** When the dump started (metadata, else the key's timestamp, else the object's time). */
  at: string | null;
  ageSeconds: number | null;
  sizeBytes: number;
  alembicRevision: string | null;
  dalstonRef: string | null;
  /** False: the upload never got its completion metadata (restore refuses it). */
  complete: boolean;
  /** Why the row is not a usable backup, or null. */
  problem: string | null;
}

export const DEFAULT_BACKUP_PREFIX = 'backups/postgres/';

/**
 * The dumps under `prefix`, newest first: a listing, then each object's
 * metadata (HeadObject), read the same way `dalston-host restore` reads it, so
 * an incomplete upload shows as such rather than as a backup.
 */
export async function listBackups(
  reader: ObjectReader,
  bucket: string,
  prefix: string,
  nowMs: number,
): Promise<BackupRow[]> {
  const listed = (await reader.list(bucket, prefix)).filter((o) => o.key.endsWith(BACKUP_SUFFIX));
  const rows: BackupRow[] = [];
  for (const o of listed) {
    const meta = await reader.metadata(bucket, o.key);
    // Listed a moment ago and gone now: expired by the lifecycle rule in between.
    if (meta === null) continue;
    const info = parseBackupMetadata(meta);
    const when =
      info && info.startedAt.getTime() > 0 ? info.startedAt : (timeOfKey(o.key) ?? o.lastModified ?? null);
    rows.push({
      key: o.key,
      at: when ? when.toISOString() : null,
      ageSeconds: when ? Math.max(0, Math.round((nowMs - when.getTime()) / 1000)) : null,
      sizeBytes: info?.complete ? info.sizeBytes : o.sizeBytes,
      alembicRevision: info?.alembicRevision ?? null,
      dalstonRef: info?.dalstonRef ?? null,
      complete: info?.complete === true,
      problem:
        info === null
          ? 'not a dalston-host backup (no backup metadata)'
          : info.complete
            ? null
            : `incomplete (no ${info.missing})`,
    });
  }
  return rows.sort((a, b) => (b.at ?? '').localeCompare(a.at ?? '') || b.key.localeCompare(a.key));
}
