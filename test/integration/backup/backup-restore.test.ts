import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusLine } from '../../../agent/report/status-line.ts';
import { parseBackupMetadata } from '../../../shared/backup/backup-object.ts';
import { parseBackupState } from '../../../shared/backup/backup-state.ts';
import { parseSnapshot, type StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { dockerFromEnv } from '../../harness/docker.ts';
import { AgentProcess, eventually } from '../agent/agent-process.ts';
import { type BackupStack, BUCKET, KNOWN_REVISIONS, nonce, startBackupStack } from './backup-stack.ts';

/**
 * Backup and restore for real: `dalston-host backup` and `restore` as processes
 * against a real Postgres 15 in a compose stack, an s3rver bucket, and the real
 * agent supervising the stack (maintenance lease, /status, metrics). In order:
 * backup → check the object → drop the table → restore → rows back and the
 * stack healthy; then the refusals (unknown revision, corrupt and incomplete
 * objects) and an S3 outage in the middle of a backup.
 */

const ROWS = 5000;
const TABLE = 'transcripts';
let stack: BackupStack;
let agent: AgentProcess;
let docker: Docker;
const marker = nonce();

async function status(): Promise<StatusSnapshot> {
  const res = await fetch(`http://${stack.agentListen}/status`, { signal: AbortSignal.timeout(3_000) });
  const parsed = parseSnapshot(await res.text());
  if (parsed.kind !== 'ok') throw new Error(parsed.reason);
  return parsed.snapshot;
}

async function metrics(): Promise<string> {
  const res = await fetch(`http://${stack.agentListen}/metrics`, { signal: AbortSignal.timeout(3_000) });
  return res.text();
}

/** Every object under backups/ with its metadata, oldest first. */
async function backupObjects() {
  const list = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'backups/' }));
  const out = [];
  for (const o of list.Contents ?? []) {
    const head = await stack.s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: o.Key! }));
    out.push({ key: o.Key!, size: o.Size ?? 0, head, info: parseBackupMetadata(head.Metadata ?? {}) });
  }
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

async function objectBytes(key: string): Promise<Buffer> {
  const r = await stack.s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** count|digest of the table, as one string. */
const rowsDigest = () =>
  stack.psql(`SELECT count(*) || '|' || md5(string_agg(v, ',' ORDER BY id)) FROM ${TABLE}`);

/** StartedAt of every container of the project, by service. */
async function startedAt(): Promise<Record<string, string>> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${stack.project}`] },
  });
  const out: Record<string, string> = {};
  for (const c of list) {
    const i = await docker.getContainer(c.Id).inspect();
    out[c.Labels['com.docker.compose.service']!] = `${i.State.Running}:${i.State.StartedAt}`;
  }
  return out;
}

const healingActions = () =>
  agent.lines.filter((l) => l.action === 'restart' || l.action === 'recreate' || l.msg === 'compose up done');

beforeAll(async () => {
  docker = dockerFromEnv();
  stack = await startBackupStack('backup');
  await stack.psql(
    [
      'CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)',
      `INSERT INTO alembic_version VALUES ('${KNOWN_REVISIONS[1]}')`,
      `CREATE TABLE ${TABLE} (id int PRIMARY KEY, v text NOT NULL)`,
      `INSERT INTO ${TABLE} SELECT i, md5('${marker}:' || i) FROM generate_series(1, ${ROWS}) AS s(i)`,
    ].join('; '),
  );
  agent = new AgentProcess(stack.configFile, stack.env);
  await agent.waitForLine((l) => l.msg === 'agent ready', 120_000, 'agent ready');
  await eventually(async () => (await status()).state === 'healthy', 60_000, 'the stack healthy');
}, 900_000);

afterAll(async () => {
  await agent?.ensureDead();
  await stack?.stop();
});

describe('dalston-host backup and restore against real Postgres and S3', () => {
  let firstKey = '';
  const before = { digest: '' };

  it('backup: pg_dump streamed to S3 with its SHA-256, size, ref, revision and Postgres version', async () => {
    before.digest = await rowsDigest();
    expect(before.digest.startsWith(`${ROWS}|`)).toBe(true);
    const r = await stack.host(['backup']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);

    const objects = await backupObjects();
    expect(objects).toHaveLength(1);
    const o = objects[0]!;
    firstKey = o.key;
    expect(o.key).toMatch(/^backups\/postgres\/\d{8}T\d{6}\.\d{3}Z\.dump$/);
    const bytes = await objectBytes(o.key);
    expect(bytes.subarray(0, 5).toString()).toBe('PGDMP');
    expect(o.info).toMatchObject({
      complete: true,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      sizeBytes: bytes.length,
      dalstonRef: 'v9.9.9-test',
      alembicRevision: KNOWN_REVISIONS[1],
      database: 'dalston',
    });
    expect(o.head.ContentLength).toBe(bytes.length);
    if (!o.info?.complete) throw new Error('incomplete');
    expect(o.info.postgresVersion).toMatch(/^15\./);
    expect(o.info.durationSeconds).toBeGreaterThan(0);

    // The outcome is in the state file, and the agent reports it: /status, metrics.
    const state = parseBackupState(await readFile(stack.stateFile, 'utf8'));
    expect(state).toMatchObject({
      kind: 'ok',
      state: { lastSuccess: { key: o.key, sizeBytes: bytes.length }, failuresTotal: 0 },
    });
    const s = await eventually(
      async () => {
        const x = await status();
        return x.backup?.lastSuccess?.key === o.key ? x : undefined;
      },
      15_000,
      '/status reporting the backup',
    );
    expect(s.backup).toMatchObject({ lastRun: { result: 'success', trigger: 'manual' }, problem: null });
    const m = await metrics();
    expect(m).toMatch(new RegExp(`^dalston_backup_last_size_bytes ${bytes.length}$`, 'm'));
    expect(m).toMatch(/^dalston_backup_last_success_timestamp_seconds \d{10}/m);
    expect(m).toMatch(/^dalston_backup_failures_total 0$/m);
  });

  it('restore --latest --yes after a DROP: the rows come back, the stack is healthy, nothing was healed', async () => {
    await stack.psql(`DROP TABLE ${TABLE}`);
    await expect(rowsDigest()).rejects.toThrow(/does not exist/);
    const pgBefore = (await startedAt()).postgres;
    const actionsBefore = healingActions().length;

    // Watch /status while the restore runs: the maintenance lease must show.
    let sawMaintenance: StatusSnapshot['maintenance'] = null;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = await status().catch(() => null);
        if (s?.maintenance) sawMaintenance = s.maintenance;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const r = await stack.host(['restore', '--latest', '--yes']);
    watching = false;
    await watcher;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);

    expect(await rowsDigest()).toBe(before.digest);
    expect(sawMaintenance).toMatchObject({
      holder: 'dalston-host restore',
      reason: `restore ${firstKey}`,
      services: ['postgres', 'gateway', 'orchestrator'],
    });
    // Postgres kept running; its dependents were stopped and started again.
    const after = await startedAt();
    expect(after.postgres).toBe(pgBefore);
    const s = await status();
    expect(s.state).toBe('healthy');
    expect(s.maintenance).toBeNull();
    for (const svc of s.services) expect(svc.state, svc.name).toBe('running');
    // The agent took no action on the stopped services while they were held.
    expect(healingActions().length).toBe(actionsBefore);
    // The lease is gone; a safety backup of the dropped state was taken first.
    const objects = await backupObjects();
    expect(objects.map((o) => o.info?.complete)).toEqual([true, true]);
    const log = r.stdout;
    expect(log).toContain(objects[1]!.key);
    expect(log).toMatch(/verified .* SHA-256 .* matches/);
  });

  it('refuses a dump whose Alembic revision the running Dalston does not know, before touching anything', async () => {
    await stack.psql("UPDATE alembic_version SET version_num = '0099_from_a_newer_dalston'");
    expect((await stack.host(['backup'])).code).toBe(0);
    await stack.psql(`UPDATE alembic_version SET version_num = '${KNOWN_REVISIONS[1]}'`);
    const count = (await backupObjects()).length;
    const containers = await startedAt();

    const r = await stack.host(['restore', '--latest', '--yes']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(
      /^dalston-host restore: the backup is at Alembic revision 0099_from_a_newer_dalston, which the running Dalston \(v9\.9\.9-test\) does not know.*--force.*nothing was changed\n$/,
    );
    // Nothing stopped, no safety backup, the database untouched.
    expect(await startedAt()).toEqual(containers);
    expect((await backupObjects()).length).toBe(count);
    expect(await rowsDigest()).toBe(before.digest);
    // A revision that exists only in _archived/ is unknown too (Alembic does not read it).
  });

  it('refuses a corrupt object (SHA-256 mismatch) and an incomplete one before anything is stopped', async () => {
    const good = (await backupObjects()).find((o) => o.key === firstKey)!;
    const bytes = await objectBytes(good.key);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = (bytes[mid] ?? 0) ^ 0xff;
    const corruptKey = 'backups/postgres/20990101T000000.000Z.dump';
    await stack.s3.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: corruptKey, Body: bytes, Metadata: good.head.Metadata }),
    );
    const count = (await backupObjects()).length;
    const containers = await startedAt();

    const r = await stack.host(['restore', corruptKey, '--yes']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(
      new RegExp(
        `^dalston-host restore: s3://${BUCKET}/${corruptKey} is corrupt: .*SHA-256.*nothing was changed\\n$`,
      ),
    );
    expect(await startedAt()).toEqual(containers);
    expect((await backupObjects()).length).toBe(count);

    // An upload that never got its completion metadata: refused by key, skipped by --latest.
    const { sha256: _s, 'size-bytes': _b, 'completed-at': _c, ...startOnly } = good.head.Metadata ?? {};
    const incompleteKey = 'backups/postgres/20990202T000000.000Z.dump';
    await stack.s3.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: incompleteKey, Body: bytes, Metadata: startOnly }),
    );
    const r2 = await stack.host(['restore', incompleteKey, '--yes']);
    expect(r2.code).toBe(65);
    expect(r2.stderr).toContain('is an incomplete backup');
    // --latest passes over the incomplete one to the newest complete one: here the corrupt one.
    const r3 = await stack.host(['restore', '--latest', '--yes']);
    expect(r3.code).toBe(65);
    expect(r3.stdout).toContain(`skipping s3://${BUCKET}/${incompleteKey}: incomplete`);
    expect(r3.stderr).toContain(`${corruptKey} is corrupt`);
    expect(await startedAt()).toEqual(containers);
    expect(await rowsDigest()).toBe(before.digest);
  });

  it('an S3 outage in the middle of a backup: non-zero exit, the failure visible, nothing deleted', async () => {
    // Enough rows for several 5 MiB parts.
    await stack.psql(
      "CREATE TABLE bulk AS SELECT i, md5(i::text) || md5(('x' || i)::text) || md5(('y' || i)::text) AS v FROM generate_series(1, 400000) AS s(i)",
    );
    const objectsBefore = await backupObjects();
    stack.s3.proxy.cutAfterBytes(7 * 1024 * 1024);
    const r = await stack.host(['backup']);
    await stack.s3.proxy.restore();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dalston-host backup: backup failed: .+\n$/);

    // Nothing deleted, and no new complete backup.
    const objectsAfter = await backupObjects();
    expect(objectsAfter.filter((o) => o.info?.complete).map((o) => o.key)).toEqual(
      objectsBefore.filter((o) => o.info?.complete).map((o) => o.key),
    );
    for (const o of objectsBefore) expect(objectsAfter.some((a) => a.key === o.key)).toBe(true);

    // Visible: the state file, /status, the status line, metrics.
    const state = parseBackupState(await readFile(stack.stateFile, 'utf8'));
    expect(state).toMatchObject({ kind: 'ok', state: { lastRun: { result: 'failure' }, failuresTotal: 1 } });
    const s = await eventually(
      async () => {
        const x = await status();
        return x.backup?.lastRun?.result === 'failure' ? x : undefined;
      },
      15_000,
      '/status reporting the failure',
    );
    expect(s.backup?.lastRun?.error).toBeTruthy();
    expect(statusLine(s)).toMatch(/^healthy \d+\/\d+ · backup failed · /);
    expect(await metrics()).toMatch(/^dalston_backup_failures_total 1$/m);

    // The next backup works again and clears the failure streak.
    expect((await stack.host(['backup'])).code).toBe(0);
  }, 240_000);
});
