/**
 * A Postgres backup in S3: its key and its metadata, written by `dalston-host
 * backup` and read by `dalston-host restore` and `dalston-aws backups`. Pure.
 *
 * SHA-256 and size are known only once the dump has streamed through, so an
 * object is written in two steps: the multipart upload carries what is known
 * up front (ref, revision, Postgres version, start time); once the upload is
 * complete a copy of the object onto itself replaces the metadata with the full
 * set (sha256, size, duration, completion time). An object without that set is
 * *incomplete* for every reader: a backup that died between the two steps is
 * never restored and never counted as the last backup.
 */

/** `x-amz-meta-*` names (S3 lower-cases them). */
export const META = {
  format: 'dalston-backup-format',
  dalstonRef: 'dalston-ref',
  alembicRevision: 'alembic-revision',
  postgresVersion: 'postgres-version',
  database: 'database',
  hostVersion: 'host-version',
  instance: 'instance',
  startedAt: 'started-at',
  sha256: 'sha256',
  sizeBytes: 'size-bytes',
  durationSeconds: 'duration-seconds',
  completedAt: 'completed-at',
} as const;

/** The value of META.format: a `pg_dump -Fc` archive. */
export const BACKUP_FORMAT = 'pg_dump-custom';
export const BACKUP_CONTENT_TYPE = 'application/vnd.postgresql.pg-dump-custom';
export const BACKUP_SUFFIX = '.dump';
/** Readers of the status call a last successful backup older than this overdue (nightly + slack). */
export const BACKUP_OVERDUE_HOURS = 26;

/** What is known before the dump starts. */
export interface BackupStart {
  dalstonRef: string;
  /** Null when the database has no alembic_version table (or no row in it). */
  alembicRevision: string | null;
  postgresVersion: string;
  database: string;
  hostVersion: string;
  instance: string;
  startedAt: Date;
}

/** What is known once the dump has been uploaded. */
export interface BackupEnd {
  sha256: string;
  sizeBytes: number;
  durationSeconds: number;
  completedAt: Date;
}

export type BackupInfo = BackupStart &
  (({ complete: true } & BackupEnd) | { complete: false; missing: string });

/** `<prefix>20260501T041503.123Z.dump`: UTC, sorts by time, no characters a shell or URL trips on. */
export function backupKey(prefix: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '');
  return `${prefix}${stamp}${BACKUP_SUFFIX}`;
}

/** The time in a key backupKey made, or null for any other key. */
export function timeOfKey(key: string): Date | null {
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z\.dump$/.exec(key);
  if (!m) return null;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

// Free text is URI-encoded: S3 metadata must be ASCII, and a revision or ref is whatever the repo says.
const enc = (v: string) => encodeURIComponent(v);
function dec(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Metadata of the upload (step one). */
export function startMetadata(s: BackupStart): Record<string, string> {
  return {
    [META.format]: BACKUP_FORMAT,
    [META.dalstonRef]: enc(s.dalstonRef),
    // 'none' rather than an empty value: some S3-compatible servers drop empty metadata.
    [META.alembicRevision]: s.alembicRevision === null ? 'none' : enc(s.alembicRevision),
    [META.postgresVersion]: enc(s.postgresVersion),
    [META.database]: enc(s.database),
    [META.hostVersion]: enc(s.hostVersion),
    [META.instance]: enc(s.instance),
    [META.startedAt]: s.startedAt.toISOString(),
  };
}

/** The full metadata (step two): the start's plus the checksum, size and timing. */
export function completeMetadata(s: BackupStart, e: BackupEnd): Record<string, string> {
  return {
    ...startMetadata(s),
    [META.sha256]: e.sha256,
    [META.sizeBytes]: String(e.sizeBytes),
    [META.durationSeconds]: e.durationSeconds.toFixed(1),
    [META.completedAt]: e.completedAt.toISOString(),
  };
}

function date(v: string | undefined): Date | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * Reads an object's metadata (keys in any case); null when it is not one of
 * our backups at all. Tolerant: a missing start field reads as unknown, a
 * missing or malformed completion field makes the backup incomplete.
 */
export function parseBackupMetadata(raw: Record<string, string | undefined>): BackupInfo | null {
  const m: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(raw)) m[k.toLowerCase()] = v;
  if (m[META.format] !== BACKUP_FORMAT) return null;
  const revision = m[META.alembicRevision];
  const start: BackupStart = {
    dalstonRef: dec(m[META.dalstonRef]) ?? 'unknown',
    alembicRevision: revision === undefined || revision === 'none' ? null : (dec(revision) ?? null),
    postgresVersion: dec(m[META.postgresVersion]) ?? 'unknown',
    database: dec(m[META.database]) ?? 'unknown',
    hostVersion: dec(m[META.hostVersion]) ?? 'unknown',
    instance: dec(m[META.instance]) ?? 'unknown',
    startedAt: date(m[META.startedAt]) ?? new Date(0),
  };
  const sha256 = m[META.sha256];
  const size = m[META.sizeBytes];
  const completedAt = date(m[META.completedAt]);
  const missing: string[] = [];
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) missing.push(META.sha256);
  if (!size || !/^\d+$/.test(size)) missing.push(META.sizeBytes);
  if (!completedAt) missing.push(META.completedAt);
  if (missing.length > 0) return { ...start, complete: false, missing: missing.join(', ') };
  const duration = Number(m[META.durationSeconds]);
  return {
    ...start,
    complete: true,
    sha256: sha256!,
    sizeBytes: Number(size),
    durationSeconds: Number.isFinite(duration) ? duration : 0,
    completedAt: completedAt!,
  };
}
