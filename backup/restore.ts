import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ObjectHead } from '../shared/aws/s3-object-store.ts';
import { BACKUP_SUFFIX, type BackupInfo, parseBackupMetadata } from '../shared/backup/backup-object.ts';
import { leaseFile } from '../shared/backup/maintenance-lease.ts';
import { HostError, UsageError } from '../shared/errors.ts';
import { formatBytes } from '../shared/format-bytes.ts';
import type { StatusSnapshot } from '../shared/status/snapshot.ts';
import { unknownRevisions } from './alembic-revisions.ts';
import { dependentsOf } from './dependents.ts';
import { DumpDigest, VerifiedDump } from './dump-digest.ts';
import { MaintenanceHold } from './maintenance-hold.ts';
import { findPostgres, lastLine, pgRestoreCommand } from './postgres.ts';
import { type BackupDeps, type BackupResult, describeFailure, takeBackup } from './run-backup.ts';

export interface RestoreDeps extends BackupDeps {
  compose: {
    up(services: readonly string[]): Promise<void>;
    stop(services: readonly string[], graceSeconds: number): Promise<void>;
  };
  /** The agent's /status, or null when no agent answers. */
  agentStatus(): Promise<StatusSnapshot | null>;
  /** Revisions the running Dalston's migrations know (backup/alembic-revisions.ts). */
  knownRevisions(): Promise<Set<string>>;
  /** Asks the operator; only called when `yes` is not set and a terminal is there to ask. */
  confirm: ((question: string) => Promise<boolean>) | null;
}

export interface RestoreOptions {
  /** An object key under backup.prefix; `latest` picks the newest complete backup instead. */
  key: string | null;
  latest: boolean;
  yes: boolean;
  force: boolean;
}

export interface RestoreResult {
  key: string;
  sizeBytes: number;
  alembicRevision: string | null;
  safetyBackup: BackupResult;
  stoppedServices: string[];
  seconds: number;
}

/** A backup object with its metadata read. */
interface Chosen {
  head: ObjectHead;
  info: BackupInfo & { complete: true };
}

/**
 * `dalston-host restore`: the backup object is checked first (complete, its
 * Alembic revision known to the running Dalston, its SHA-256 and size right,
 * streamed once), and only then is anything touched: a safety backup; the
 * maintenance lease naming Postgres and its dependents, so the agent heals
 * none of them; the dependents stopped; `pg_restore` in one transaction fed
 * from S3 (the same object version, verified again on the way, its end held
 * back until it matches); the dependents started again; the lease released;
 * then it waits for the stack to be healthy. Postgres keeps running
 * throughout. The caller holds the backup lock.
 */
export async function restoreBackup(deps: RestoreDeps, opts: RestoreOptions): Promise<RestoreResult> {
  const { config, clock, out } = deps;
  const b = config.backup;
  const t0 = clock.now();
  const chosen = await choose(deps, opts);
  const { head, info } = chosen;
  const where = `${deps.bucketUrl}/${head.key}`;
  out.info(
    `backup ${where}: ${formatBytes(info.sizeBytes)}, taken ${info.completedAt.toISOString()} on Dalston ${info.dalstonRef}, Alembic revision ${info.alembicRevision ?? 'none'}, Postgres ${info.postgresVersion}`,
  );

  await checkRevision(deps, info, opts.force);

  if (!opts.yes) {
    if (!deps.confirm) {
      throw new UsageError(
        'restore replaces the whole database with the backup; pass --yes to confirm (no terminal to ask on)',
      );
    }
    const ok = await deps.confirm(
      `Replace database ${b.database ?? '(the stack’s)'} with ${head.key}? A safety backup is taken first. Type yes to go on: `,
    );
    if (!ok) throw new HostError('failure', 'restore cancelled; nothing was changed');
  }

  // 1. The object's bytes, before anything is touched.
  await verifyObject(deps, chosen);

  // 2. Where Postgres runs and what depends on it (compose's depends_on graph).
  const { target, containers } = await findPostgres(deps.docker, {
    project: config.compose.project,
    service: b.postgresService,
    database: b.database,
    user: b.user,
  });
  const dependents = dependentsOf(target.service, containers);

  // 3. A backup of what is about to be replaced.
  out.info('taking a safety backup of the current database first');
  let safety: BackupResult;
  try {
    safety = await takeBackup(deps, 'before-restore');
  } catch (err) {
    throw new HostError('failure', `${(err as Error).message}; not restoring, nothing was changed`, {
      cause: err,
    });
  }

  // 4. Maintenance: the agent leaves Postgres and its dependents alone from here on.
  const hold = await MaintenanceHold.begin(
    leaseFile(b.runDir),
    {
      reason: `restore ${head.key}`,
      holder: 'dalston-host restore',
      services: [target.service, ...dependents],
    },
    { clock },
  );
  let restoreError: unknown = null;
  let stopped: string[] = [];
  try {
    await waitForAgentToHold(deps, hold.current.pid);
    stopped = dependents.filter((s) => containers.some((c) => c.service === s && c.state === 'running'));
    if (stopped.length > 0) {
      out.info(`stopping ${stopped.join(', ')} (they depend on ${target.service}, which keeps running)`);
      await deps.compose.stop(stopped, config.agent.stopGraceSeconds);
    }
    try {
      await pgRestore(deps, chosen, target);
    } catch (err) {
      restoreError = err;
    }
  } catch (err) {
    restoreError ??= err;
  } finally {
    // The stack comes back whatever happened: a failed pg_restore changed nothing.
    if (stopped.length > 0) {
      out.info(`starting ${stopped.join(', ')} again`);
      await deps.compose.up(stopped).catch((err: Error) => {
        out.warn(`could not start ${stopped.join(', ')}: ${describeFailure(err)}; the agent takes over`);
      });
    }
    await hold.end();
  }
  if (restoreError) {
    const reason = restoreError instanceof HostError ? restoreError.message : describeFailure(restoreError);
    throw new HostError(
      'failure',
      `restore of ${where} failed: ${reason}; the database is as it was (one transaction, rolled back); safety backup: ${safety.key}`,
      { cause: restoreError },
    );
  }

  await waitHealthy(deps, b.restoreHealthySeconds * 1000);
  const seconds = (clock.now() - t0) / 1000;
  out.info(
    `restored ${where} (${formatBytes(info.sizeBytes)}, Alembic revision ${info.alembicRevision ?? 'none'}) in ${seconds.toFixed(1)} s; the stack is healthy; safety backup: ${deps.bucketUrl}/${safety.key}`,
  );
  return {
    key: head.key,
    sizeBytes: info.sizeBytes,
    alembicRevision: info.alembicRevision,
    safetyBackup: safety,
    stoppedServices: stopped,
    seconds,
  };
}

/** The object to restore: the key given, or the newest complete backup under the prefix. */
async function choose(deps: RestoreDeps, opts: RestoreOptions): Promise<Chosen> {
  const { store, out } = deps;
  const prefix = deps.config.backup.prefix;
  if (opts.key !== null) {
    const key = opts.key.startsWith('s3://') ? opts.key.replace(/^s3:\/\/[^/]+\//, '') : opts.key;
    const head = await store.head(key);
    if (!head) throw new HostError('backupRefused', `no object ${deps.bucketUrl}/${key}`);
    return { head, info: completeInfo(deps, head) };
  }
  const keys = (await store.list(prefix))
    .map((o) => o.key)
    .filter((k) => k.endsWith(BACKUP_SUFFIX))
    .sort()
    .reverse();
  for (const key of keys) {
    const head = await store.head(key);
    if (!head) continue;
    const info = parseBackupMetadata(head.metadata);
    if (info?.complete) return { head, info };
    out.warn(
      `skipping ${deps.bucketUrl}/${key}: ${info ? `incomplete (no ${info.missing})` : 'not a backup'}`,
    );
  }
  throw new HostError('backupRefused', `no complete backup under ${deps.bucketUrl}/${prefix}`);
}

function completeInfo(deps: RestoreDeps, head: ObjectHead): BackupInfo & { complete: true } {
  const where = `${deps.bucketUrl}/${head.key}`;
  const info = parseBackupMetadata(head.metadata);
  if (!info)
    throw new HostError('backupRefused', `${where} is not a dalston-host backup (no backup metadata)`);
  if (!info.complete) {
    throw new HostError(
      'backupRefused',
      `${where} is an incomplete backup (no ${info.missing}): its upload never finished; not restoring it`,
    );
  }
  if (info.sizeBytes !== head.sizeBytes) {
    throw new HostError(
      'backupRefused',
      `${where} holds ${head.sizeBytes} bytes but its metadata says ${info.sizeBytes}; not restoring it`,
    );
  }
  return info;
}

async function checkRevision(
  deps: RestoreDeps,
  info: BackupInfo & { complete: true },
  force: boolean,
): Promise<void> {
  const known = await deps.knownRevisions();
  const ref = deps.dalstonRef;
  let problem: string | null = null;
  if (info.alembicRevision === null) {
    problem = `carries no Alembic revision (the database had no alembic_version): the running Dalston (${ref}) would migrate it as if it were empty`;
  } else {
    const unknown = unknownRevisions(info.alembicRevision, known);
    if (unknown.length > 0) {
      problem =
        `is at Alembic revision ${unknown.join(', ')}, which the running Dalston (${ref}) does not know: ` +
        `a newer Dalston wrote it, and this one's gateway would crash-loop on its schema`;
    }
  }
  if (problem === null) return;
  if (!force) {
    throw new HostError(
      'backupRefused',
      `the backup ${problem}; deploy a Dalston that knows it first, or pass --force to restore anyway; nothing was changed`,
    );
  }
  deps.out.warn(
    `--force: the backup ${problem}. Restoring anyway: the gateway and orchestrator may fail to start or ` +
      'change the schema in ways this Dalston does not expect; the safety backup taken next is the way back.',
  );
}

/** Streams the object once and checks its size and SHA-256 against its metadata. */
async function verifyObject(deps: RestoreDeps, c: Chosen): Promise<void> {
  const { store, clock, out } = deps;
  const where = `${deps.bucketUrl}/${c.head.key}`;
  const t0 = clock.now();
  const { body, etag } = await store.getStream(c.head.key, { ifMatch: c.head.etag });
  if (etag !== null && etag !== c.head.etag) {
    body.destroy();
    throw new HostError('backupRefused', `${where} changed while it was being read; try again`);
  }
  const digest = new DumpDigest({ onBytes: (n) => out.progress('verifying', n, clock.now() - t0) });
  const discard = new Writable({ write: (_chunk, _enc, cb) => cb() });
  try {
    await pipeline(body, digest, discard);
  } catch (err) {
    throw new HostError('failure', `could not read ${where}: ${describeFailure(err)}; nothing was changed`, {
      cause: err,
    });
  } finally {
    out.endProgress();
  }
  const sha = digest.sha256();
  if (digest.bytes !== c.info.sizeBytes || sha !== c.info.sha256) {
    throw new HostError(
      'backupRefused',
      `${where} is corrupt: ${digest.bytes} bytes with SHA-256 ${sha}, but it was written as ${c.info.sizeBytes} bytes with ${c.info.sha256}; nothing was changed`,
    );
  }
  out.info(`verified ${where}: ${formatBytes(digest.bytes)}, SHA-256 ${sha.slice(0, 16)}… matches`);
}

/** pg_restore in the Postgres container, its stdin streamed from S3 through a second check. */
async function pgRestore(
  deps: RestoreDeps,
  c: Chosen,
  target: Awaited<ReturnType<typeof findPostgres>>['target'],
): Promise<void> {
  const { store, clock, out, docker } = deps;
  const t0 = clock.now();
  const { body, etag } = await store.getStream(c.head.key, { ifMatch: c.head.etag });
  if (etag !== null && etag !== c.head.etag) {
    body.destroy();
    throw new Error('the object changed after it was verified');
  }
  const verified = new VerifiedDump(c.info, (n) => out.progress('restoring', n, clock.now() - t0));
  body.on('error', (err) => verified.destroy(err));
  const stdin = body.pipe(verified);
  out.info(
    `restoring into database ${target.database} (pg_restore --clean --if-exists --single-transaction)`,
  );
  const run = await docker.exec(target.containerId, { cmd: pgRestoreCommand(target), stdin });
  let verifyError: Error | null = null;
  verified.on('error', (err) => {
    verifyError = err;
  });
  try {
    run.stdout.resume();
    const { exitCode, stderr } = await run.done;
    if (verifyError) throw verifyError;
    if (exitCode !== 0)
      throw new Error(`pg_restore exited ${exitCode}: ${lastLine(stderr) || '(no message)'}`);
  } finally {
    out.endProgress();
    body.destroy();
  }
}

/** After writing the lease: the agent's /status shows it (the agent has seen it), if an agent runs. */
async function waitForAgentToHold(deps: RestoreDeps, pid: number): Promise<void> {
  const { clock, out } = deps;
  const deadline = clock.now() + (deps.config.agent.reconcileIntervalSeconds + 15) * 1000;
  for (;;) {
    const s = await deps.agentStatus();
    if (s === null) {
      out.warn('the agent does not answer; going on without it (nothing will heal the stack meanwhile)');
      return;
    }
    if (s.maintenance?.pid === pid) {
      out.info(`the agent holds ${s.maintenance.services.join(', ')} for the restore`);
      return;
    }
    if (clock.now() > deadline) {
      out.warn(
        'the agent has not reported the maintenance lease yet; going on (it reads the lease before acting)',
      );
      return;
    }
    await clock.sleep(500);
  }
}

/** The agent's verdict (or, without an agent, the containers' own health) until healthy or the deadline. */
async function waitHealthy(deps: RestoreDeps, timeoutMs: number): Promise<void> {
  const { clock, out } = deps;
  const deadline = clock.now() + timeoutMs;
  let last = '';
  for (;;) {
    const s = await deps.agentStatus();
    if (s) {
      if (s.state === 'healthy' && !s.maintenance) return;
      const bad = s.services.filter(
        (x) => x.state !== 'running' || x.health === 'unhealthy' || x.health === 'starting',
      );
      last = `${s.state}${bad.length ? `: ${bad.map((x) => `${x.name} ${x.state}/${x.health}`).join(', ')}` : ''}`;
    } else {
      const list = await deps.docker.listProjectContainers(deps.config.compose.project);
      const bad = list.filter(
        (c) => c.state !== 'running' || c.health === 'unhealthy' || c.health === 'starting',
      );
      if (list.length > 0 && bad.length === 0) {
        out.warn('the agent does not answer; the containers are running and healthy');
        return;
      }
      last = `no agent; ${bad.map((c) => `${c.service} ${c.state}/${c.health}`).join(', ')}`;
    }
    if (clock.now() > deadline) {
      throw new HostError(
        'failure',
        `the database was restored, but the stack is not healthy after ${Math.round(timeoutMs / 1000)} s (${last}); see dalston-host status`,
      );
    }
    await clock.sleep(1_000);
  }
}
