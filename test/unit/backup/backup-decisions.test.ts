import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { revisionOfScript, unknownRevisions } from '../../../backup/alembic-revisions.ts';
import { dependentsOf } from '../../../backup/dependents.ts';
import { DumpDigest, VerifiedDump } from '../../../backup/dump-digest.ts';
import {
  type BackupStart,
  backupKey,
  completeMetadata,
  parseBackupMetadata,
  startMetadata,
  timeOfKey,
} from '../../../shared/backup/backup-object.ts';
import {
  type BackupRun,
  EMPTY_BACKUP_STATE,
  parseBackupState,
  recordRun,
} from '../../../shared/backup/backup-state.ts';
import { summarizeBackup } from '../../../shared/backup/backup-summary.ts';
import { judgeLease } from '../../../shared/backup/maintenance-lease.ts';
import type { ContainerInfo } from '../../../shared/engine/docker/types.ts';
import { parseSnapshot } from '../../../shared/status/snapshot.ts';
import { snapshot } from '../agent/report/fixtures.ts';

const start: BackupStart = {
  dalstonRef: 'v1.2.3',
  alembicRevision: '0008_add_task_ready_at',
  postgresVersion: '15.14 (Debian 15.14-0+deb12u1)',
  database: 'dalston',
  hostVersion: '0.1.0',
  instance: 'i-0abc',
  startedAt: new Date('2026-05-01T04:15:03.123Z'),
};

async function collect(source: Buffer[], through: NodeJS.ReadWriteStream): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(source), through, async (s: AsyncIterable<Buffer | string>) => {
    for await (const c of s) out.push(Buffer.from(c));
  });
  return Buffer.concat(out);
}

describe('backup objects: keys and two-step metadata', () => {
  it('keys carry the UTC time and read back; other keys have none', () => {
    const key = backupKey('backups/postgres/', start.startedAt);
    expect(key).toBe('backups/postgres/20260501T041503.123Z.dump');
    expect(timeOfKey(key)?.toISOString()).toBe('2026-05-01T04:15:03.123Z');
    expect(timeOfKey('backups/postgres/notes.txt')).toBeNull();
  });

  it('an object with only the upload-time metadata is incomplete; the completed set reads back whole', () => {
    const partial = parseBackupMetadata(startMetadata(start));
    expect(partial).toMatchObject({ complete: false, alembicRevision: '0008_add_task_ready_at' });
    if (partial?.complete !== false) throw new Error('expected incomplete');
    expect(partial.missing).toBe('sha256, size-bytes, completed-at');

    const end = {
      sha256: 'a'.repeat(64),
      sizeBytes: 1234,
      durationSeconds: 2.5,
      completedAt: new Date('2026-05-01T04:16:00Z'),
    };
    // S3 may hand keys back in another case.
    const upper = Object.fromEntries(
      Object.entries(completeMetadata(start, end)).map(([k, v]) => [k.toUpperCase(), v]),
    );
    expect(parseBackupMetadata(upper)).toEqual({ ...start, ...end, complete: true });
  });

  it('a malformed checksum or size makes a backup incomplete; a foreign object is not a backup', () => {
    const meta = completeMetadata(start, {
      sha256: 'b'.repeat(64),
      sizeBytes: 10,
      durationSeconds: 1,
      completedAt: new Date(),
    });
    expect(parseBackupMetadata({ ...meta, sha256: 'not-hex' })?.complete).toBe(false);
    expect(parseBackupMetadata({ ...meta, 'size-bytes': '-1' })?.complete).toBe(false);
    expect(parseBackupMetadata({ 'some-other': 'x' })).toBeNull();
  });

  it('no alembic_version table round-trips as null, not as a revision called "none" or ""', () => {
    const meta = startMetadata({ ...start, alembicRevision: null });
    expect(meta['alembic-revision']).toBe('none');
    expect(parseBackupMetadata(meta)?.alembicRevision).toBeNull();
  });
});

describe('Alembic revisions the running Dalston knows', () => {
  it("reads the revision of Dalston's script shapes (typed and untyped assignments)", () => {
    expect(
      revisionOfScript('"""x."""\nrevision: str = "0008_add_task_ready_at"\ndown_revision = "0007"\n'),
    ).toBe('0008_add_task_ready_at');
    expect(revisionOfScript("revision = '729dffbba68f'\n")).toBe('729dffbba68f');
    // down_revision is not the revision, and a script without one declares nothing.
    expect(revisionOfScript('down_revision = "0007"\n')).toBeNull();
  });

  it('names every head of a dump that is not known; a dump without Alembic is not refused', () => {
    const known = new Set(['0001', '0002']);
    expect(unknownRevisions('0002', known)).toEqual([]);
    expect(unknownRevisions('0002, 0099', known)).toEqual(['0099']);
    expect(unknownRevisions(null, known)).toEqual([]);
  });
});

describe('dependents of Postgres from the depends_on graph', () => {
  const c = (service: string, dependsOn: string[]): ContainerInfo => ({
    id: service,
    name: `p-${service}-1`,
    project: 'p',
    service,
    state: 'running',
    health: 'healthy',
    restartCount: 0,
    stopTimeoutSeconds: null,
    dependsOn,
    mounts: [],
    pid: null,
  });

  it('follows dependencies through other services and leaves unrelated ones alone', () => {
    const containers = [
      c('postgres', []),
      c('redis', []),
      c('gateway', ['postgres', 'redis']),
      c('orchestrator', ['gateway']),
      c('stt-transcribe', ['redis']),
    ];
    expect(dependentsOf('postgres', containers)).toEqual(['gateway', 'orchestrator']);
    expect(dependentsOf('redis', containers)).toEqual(['gateway', 'orchestrator', 'stt-transcribe']);
    expect(dependentsOf('stt-transcribe', containers)).toEqual([]);
  });
});

describe('the maintenance lease', () => {
  const lease = {
    reason: 'restore backups/postgres/x.dump',
    holder: 'dalston-host restore',
    pid: 4242,
    since: '2026-05-01T04:00:00.000Z',
    expiresAt: '2026-05-01T04:02:00.000Z',
    services: ['postgres', 'gateway'],
  };
  const text = JSON.stringify(lease);
  const at = (iso: string) => Date.parse(iso);

  it('holds while unexpired and its holder lives', () => {
    expect(judgeLease(text, at('2026-05-01T04:01:00Z'), () => true)).toEqual({ kind: 'active', lease });
  });

  it('a crashed or stuck restore does not keep the host in maintenance', () => {
    expect(judgeLease(text, at('2026-05-01T04:01:00Z'), () => false)).toMatchObject({
      kind: 'ended',
      why: 'its holder (pid 4242) is gone',
    });
    expect(judgeLease(text, at('2026-05-01T04:02:00Z'), () => true)).toMatchObject({
      kind: 'ended',
      why: 'expired at 2026-05-01T04:02:00.000Z',
    });
  });

  it('a damaged file holds nothing and says why', () => {
    expect(judgeLease('{"reason":', 0, () => true).kind).toBe('malformed');
    expect(judgeLease(JSON.stringify({ ...lease, pid: 'x' }), 0, () => true)).toEqual({
      kind: 'malformed',
      reason: 'wrong shape at pid',
    });
  });
});

describe('backup state and what status makes of it', () => {
  const run = (result: string, finishedAt: string): BackupRun => ({
    startedAt: finishedAt,
    finishedAt,
    result,
    trigger: 'timer',
    key: null,
    sizeBytes: null,
    durationSeconds: null,
    error: result === 'failure' ? 'S3 unreachable' : null,
  });
  const success = {
    at: '2026-05-01T04:16:00.000Z',
    key: 'backups/postgres/20260501T041503.123Z.dump',
    sizeBytes: 1000,
    sha256: 'c'.repeat(64),
    alembicRevision: null,
    durationSeconds: 3,
  };

  it('counts failures, keeps the last success through a failure, resets the streak on success', () => {
    let s = recordRun(EMPTY_BACKUP_STATE, run('success', success.at), success);
    s = recordRun(s, run('failure', '2026-05-02T04:16:00.000Z'), null);
    s = recordRun(s, run('failure', '2026-05-03T04:16:00.000Z'), null);
    expect(s).toMatchObject({ lastSuccess: success, failuresTotal: 2, consecutiveFailures: 2 });
    s = recordRun(s, run('success', '2026-05-04T04:16:00.000Z'), {
      ...success,
      at: '2026-05-04T04:16:00.000Z',
    });
    expect(s).toMatchObject({ failuresTotal: 2, consecutiveFailures: 0 });
    expect(parseBackupState(JSON.stringify(s))).toEqual({ kind: 'ok', state: s });
  });

  it('the state reader tolerates added fields and names a wrong key', () => {
    const s = { ...EMPTY_BACKUP_STATE, fromTheFuture: 1 };
    expect(parseBackupState(JSON.stringify(s)).kind).toBe('ok');
    expect(parseBackupState(JSON.stringify({ ...EMPTY_BACKUP_STATE, failuresTotal: -1 }))).toMatchObject({
      kind: 'malformed',
      reason: expect.stringContaining('failuresTotal'),
    });
    expect(parseBackupState('').kind).toBe('malformed');
  });

  it('overdue after 26 h, failed wins, none before the first success, null from an older agent', () => {
    const status = (over: object) => ({
      ...EMPTY_BACKUP_STATE,
      problem: null,
      lastSuccess: success,
      ...over,
    });
    const t = (iso: string) => Date.parse(iso);
    expect(summarizeBackup(status({}), t('2026-05-02T06:15:00Z'))?.verdict).toBe('ok');
    expect(summarizeBackup(status({}), t('2026-05-02T06:17:00Z'))?.verdict).toBe('overdue');
    expect(
      summarizeBackup(
        status({ lastRun: run('failure', '2026-05-01T05:00:00.000Z') }),
        t('2026-05-01T06:00:00Z'),
      ),
    ).toMatchObject({ verdict: 'failed', failure: { error: 'S3 unreachable' } });
    expect(summarizeBackup(status({ lastSuccess: null }), 0)?.verdict).toBe('none');
    expect(summarizeBackup(status({ problem: 'not JSON' }), 0)?.verdict).toBe('unknown');
    expect(summarizeBackup(undefined, 0)).toBeNull();
  });
});

describe('snapshot compatibility of the backup and maintenance blocks', () => {
  it('a snapshot without them (older agent) and one with them both parse', () => {
    const old = snapshot();
    delete (old as { backup?: unknown }).backup;
    delete (old as { maintenance?: unknown }).maintenance;
    expect(parseSnapshot(JSON.stringify(old)).kind).toBe('ok');
    const withBackup = snapshot({
      backup: { ...EMPTY_BACKUP_STATE, problem: null },
      maintenance: null,
    });
    expect(parseSnapshot(JSON.stringify(withBackup))).toEqual({ kind: 'ok', snapshot: withBackup });
  });
});

describe('dump digests', () => {
  it('counts and hashes a custom-format archive as it passes', async () => {
    const chunks = [Buffer.from('PG'), Buffer.from('DMP rest'), Buffer.from(' of it')];
    const d = new DumpDigest({ requireMagic: true });
    const out = await collect(chunks, d);
    expect(out.toString()).toBe('PGDMP rest of it');
    expect(d.bytes).toBe(16);
    expect(d.sha256()).toBe(createHash('sha256').update('PGDMP rest of it').digest('hex'));
  });

  it('an empty dump or an error message on stdout is never passed on as a backup', async () => {
    await expect(collect([], new DumpDigest({ requireMagic: true }))).rejects.toThrow('the dump is empty');
    await expect(
      collect([Buffer.from('pg_dump: error')], new DumpDigest({ requireMagic: true })),
    ).rejects.toThrow(/not a pg_dump custom-format archive/);
  });

  it('a restore stream that does not match what was verified fails before its last bytes go out', async () => {
    const body = [Buffer.from('PGDMP-part-1'), Buffer.from('part-2'), Buffer.from('part-3')];
    const whole = Buffer.concat(body);
    const expected = { sha256: createHash('sha256').update(whole).digest('hex'), sizeBytes: whole.length };
    expect((await collect(body, new VerifiedDump(expected))).equals(whole)).toBe(true);

    const changed = [body[0]!, Buffer.from('part-X'), body[2]!];
    const seen: Buffer[] = [];
    const v = new VerifiedDump(expected);
    await expect(
      pipeline(Readable.from(changed), v, async (s: AsyncIterable<Buffer | string>) => {
        for await (const c of s) seen.push(Buffer.from(c));
      }),
    ).rejects.toThrow(/changed since it was verified/);
    // Whatever the reader got (the failure may beat earlier chunks to it), the end never arrived.
    expect(Buffer.concat(seen).toString()).not.toContain('part-3');
  });
});
