import { PassThrough } from 'node:stream';
import type { LargeObjectStore } from '../shared/aws/s3-object-store.ts';
import {
  BACKUP_CONTENT_TYPE,
  type BackupEnd,
  type BackupStart,
  backupKey,
  completeMetadata,
  parseBackupMetadata,
  startMetadata,
} from '../shared/backup/backup-object.ts';
import type { BackupRun } from '../shared/backup/backup-state.ts';
import type { HostConfig } from '../shared/config/schema.ts';
import { HostError } from '../shared/errors.ts';
import { formatBytes } from '../shared/format-bytes.ts';
import type { Clock } from '../shared/time/clock.ts';
import { DumpDigest } from './dump-digest.ts';
import type { BackupOutput } from './output.ts';
import { databaseFacts, findPostgres, lastLine, type PostgresDocker, pgDumpCommand } from './postgres.ts';
import { recordBackupRun } from './state-file.ts';

/** Everything a backup touches outside itself (backup/context.ts wires the real ones). */
export interface BackupDeps {
  config: HostConfig;
  docker: PostgresDocker;
  store: LargeObjectStore;
  /** s3://bucket, for messages. */
  bucketUrl: string;
  clock: Clock;
  out: BackupOutput;
  hostVersion: string;
  instance: string;
  dalstonRef: string;
}

export type BackupTrigger = 'timer' | 'manual' | 'before-restore' | 'before-upgrade';

export interface BackupResult {
  key: string;
  sizeBytes: number;
  sha256: string;
  durationSeconds: number;
  alembicRevision: string | null;
  postgresVersion: string;
}

/** One line for an operator out of whatever failed (SDK errors carry a name and a long message). */
export function describeFailure(err: unknown): string {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const first = (e?.message ?? String(err)).split('\n')[0]!.trim();
  const name = e?.name && !['Error', 'HostError'].includes(e.name) ? e.name : (e?.code ?? '');
  const status = e?.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
  const text = name && !first.includes(name) ? `${name}: ${first}` : first;
  return `${text || 'unknown error'}${status}`;
}

/**
 * `pg_dump -Fc` inside the running Postgres container, streamed into a
 * multipart upload under `backup.prefix`, then marked complete with its
 * SHA-256 and size (shared/backup/backup-object.ts). Nothing is staged on disk
 * and memory stays at a few upload parts whatever the dump's size. The upload
 * is only allowed to finish once pg_dump has exited 0 and its output is a
 * custom-format archive: a failed or empty dump aborts the upload, so no object
 * appears and nothing is replaced. Every outcome is recorded in the state file
 * the agent reports from. The caller holds the backup lock.
 */
export async function takeBackup(deps: BackupDeps, trigger: BackupTrigger): Promise<BackupResult> {
  const { config, clock, out } = deps;
  const t0 = clock.now();
  let key: string | null = null;
  let size: number | null = null;
  try {
    const result = await dumpAndUpload(deps, (k) => {
      key = k;
    });
    size = result.sizeBytes;
    const run: BackupRun = {
      startedAt: new Date(t0).toISOString(),
      finishedAt: new Date(clock.now()).toISOString(),
      result: 'success',
      trigger,
      key: result.key,
      sizeBytes: result.sizeBytes,
      durationSeconds: result.durationSeconds,
      error: null,
    };
    await recordBackupRun(config.backup.stateFile, run, {
      at: run.finishedAt,
      key: result.key,
      sizeBytes: result.sizeBytes,
      sha256: result.sha256,
      alembicRevision: result.alembicRevision,
      durationSeconds: result.durationSeconds,
    });
    return result;
  } catch (err) {
    const reason = err instanceof HostError ? err.message : describeFailure(err);
    const run: BackupRun = {
      startedAt: new Date(t0).toISOString(),
      finishedAt: new Date(clock.now()).toISOString(),
      result: 'failure',
      trigger,
      key,
      sizeBytes: size,
      durationSeconds: (clock.now() - t0) / 1000,
      error: reason,
    };
    await recordBackupRun(config.backup.stateFile, run, null).catch((e: Error) =>
      out.warn(`could not record the failure in ${config.backup.stateFile}: ${e.message}`),
    );
    throw new HostError('failure', `backup failed: ${reason}`, { cause: err });
  }
}

async function dumpAndUpload(deps: BackupDeps, onKey: (key: string) => void): Promise<BackupResult> {
  const { config, docker, store, clock, out } = deps;
  const b = config.backup;
  const t0 = clock.now();
  const { target } = await findPostgres(docker, {
    project: config.compose.project,
    service: b.postgresService,
    database: b.database,
    user: b.user,
  });
  const facts = await databaseFacts(docker, target);
  const start: BackupStart = {
    dalstonRef: deps.dalstonRef,
    alembicRevision: facts.alembicRevision,
    postgresVersion: facts.postgresVersion,
    database: target.database,
    hostVersion: deps.hostVersion,
    instance: deps.instance,
    startedAt: new Date(t0),
  };
  const key = backupKey(b.prefix, start.startedAt);
  onKey(key);
  const where = `${deps.bucketUrl}/${key}`;
  // Never replace an object (S3's conditional write refuses too, where the server supports it).
  if (await store.head(key)) throw new Error(`${where} exists already; not replacing it`);
  out.info(
    `backing up database ${target.database} (Postgres ${facts.postgresVersion}, Alembic revision ${facts.alembicRevision ?? 'none'}) to ${where}`,
    {
      key,
      database: target.database,
      alembicRevision: facts.alembicRevision,
      postgresVersion: facts.postgresVersion,
    },
  );

  const dump = await docker.exec(target.containerId, { cmd: pgDumpCommand(target) });
  const digest = new DumpDigest({
    requireMagic: true,
    onBytes: (n) => out.progress('dumped', n, clock.now() - t0),
  });
  // The upload's body ends only once pg_dump has exited 0: until then S3 cannot complete the object.
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  const pgDumpFailed = (r: { exitCode: number; stderr: string }) =>
    new Error(`pg_dump exited ${r.exitCode}: ${lastLine(r.stderr) || '(no message)'}`);
  dump.stdout.on('error', (err) => body.destroy(err));
  digest.on('error', (err) => {
    // An empty or odd output usually means pg_dump failed: its own message says why.
    const waited = new AbortController();
    void Promise.race([dump.done, clock.sleep(5_000, waited.signal).then(() => null)])
      .then(
        (r) => body.destroy(r && r.exitCode !== 0 ? pgDumpFailed(r) : err),
        () => body.destroy(err),
      )
      .finally(() => waited.abort());
  });
  dump.stdout.pipe(digest).pipe(body, { end: false });
  digest.on('end', () => {
    dump.done.then(
      (r) => (r.exitCode === 0 ? body.end() : body.destroy(pgDumpFailed(r))),
      (err: Error) => body.destroy(err),
    );
  });
  try {
    await store.uploadStream(key, body, {
      metadata: startMetadata(start),
      contentType: BACKUP_CONTENT_TYPE,
      partSizeBytes: b.partSizeMiB * 1024 * 1024,
    });
  } catch (err) {
    // pg_dump may still be writing into a pipe nobody reads: end it.
    await dump.kill().catch(() => {});
    dump.stdout.destroy();
    throw err;
  } finally {
    out.endProgress();
  }

  const end: BackupEnd = {
    sha256: digest.sha256(),
    sizeBytes: digest.bytes,
    durationSeconds: (clock.now() - t0) / 1000,
    completedAt: new Date(clock.now()),
  };
  const uploaded = await store.head(key);
  if (!uploaded) throw new Error(`${where} is missing right after its upload`);
  if (uploaded.sizeBytes !== end.sizeBytes) {
    throw new Error(`${where} holds ${uploaded.sizeBytes} bytes, but ${end.sizeBytes} were dumped`);
  }
  // Step two: the full metadata, which is also what marks the backup complete.
  await store.replaceMetadata(key, {
    etag: uploaded.etag,
    sizeBytes: end.sizeBytes,
    metadata: completeMetadata(start, end),
    contentType: BACKUP_CONTENT_TYPE,
  });
  const done = await store.head(key);
  const info = done ? parseBackupMetadata(done.metadata) : null;
  if (!info?.complete || info.sha256 !== end.sha256) {
    throw new Error(`${where} was uploaded but its completion metadata did not stick`);
  }
  out.info(
    `backed up ${formatBytes(end.sizeBytes)} in ${end.durationSeconds.toFixed(1)} s: ${where} (sha256 ${end.sha256.slice(0, 16)}…)`,
    { key, sizeBytes: end.sizeBytes, sha256: end.sha256, durationSeconds: end.durationSeconds },
  );
  return {
    key,
    sizeBytes: end.sizeBytes,
    sha256: end.sha256,
    durationSeconds: end.durationSeconds,
    alembicRevision: facts.alembicRevision,
    postgresVersion: facts.postgresVersion,
  };
}
