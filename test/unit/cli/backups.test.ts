import { describe, expect, it } from 'vitest';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { type BackupStart, completeMetadata, startMetadata } from '../../../shared/backup/backup-object.ts';
import { DEPLOY, FakeClock, FakeObjects, testContext } from './helpers.ts';

const NOW = Date.parse('2026-11-28T06:12:00.000Z');
const start = (at: string, revision: string | null): BackupStart => ({
  dalstonRef: 'v1.2.3',
  alembicRevision: revision,
  postgresVersion: '15.14',
  database: 'dalston',
  hostVersion: '0.1.0',
  instance: 'i-0123456789abcdef0',
  startedAt: new Date(at),
});
const done = (s: BackupStart, sizeBytes: number) =>
  completeMetadata(s, {
    sha256: 'd'.repeat(64),
    sizeBytes,
    durationSeconds: 12,
    completedAt: new Date(s.startedAt.getTime() + 12_000),
  });

function objects(): FakeObjects {
  const o = new FakeObjects();
  const older = start('2026-11-26T04:15:00.000Z', '0007_rename');
  const newer = start('2026-11-28T04:15:00.000Z', '0008_add_task_ready_at');
  const broken = start('2026-11-27T04:15:00.000Z', '0008_add_task_ready_at');
  o.listed = [
    { key: 'backups/postgres/20261126T041500.000Z.dump', sizeBytes: 1000, metadata: done(older, 1000) },
    {
      key: 'backups/postgres/20261128T041500.000Z.dump',
      sizeBytes: 3 * 1024 * 1024,
      metadata: done(newer, 3 * 1024 * 1024),
    },
    // An upload that died before its completion metadata.
    { key: 'backups/postgres/20261127T041500.000Z.dump', sizeBytes: 500, metadata: startMetadata(broken) },
    // Listed, then expired before the HeadObject.
    { key: 'backups/postgres/20261120T041500.000Z.dump', sizeBytes: 1, metadata: null },
    { key: 'backups/postgres/README.txt', sizeBytes: 10, metadata: {} },
    { key: 'backups/other/20261128T041500.000Z.dump', sizeBytes: 10, metadata: {} },
  ];
  return o;
}

async function run(args: string[], o = objects()) {
  const ctx = testContext({ clock: new FakeClock(NOW), objects: () => o });
  const code = await dalstonAwsMain(['backups', ...args, ...DEPLOY], ctx);
  return { code, out: ctx.stdout.text, err: ctx.stderr.text };
}

describe('dalston-aws backups', () => {
  it('lists the dumps newest first with time, age, size and revision; incomplete ones say so', async () => {
    const r = await run([]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe('Backups under s3://dalston-test-bucket/backups/postgres/');
    expect(lines[1]).toMatch(/^TIME \(UTC\)\s+AGE\s+SIZE\s+ALEMBIC REVISION\s+OBJECT$/);
    expect(lines.slice(2)).toHaveLength(3);
    expect(lines[2]).toMatch(
      /^2026-11-28 04:15:00Z\s+1h 57m ago\s+3\.0 MiB\s+0008_add_task_ready_at\s+20261128T041500\.000Z\.dump$/,
    );
    expect(lines[3]).toMatch(/^2026-11-27 04:15:00Z\s+.*incomplete \(no sha256, size-bytes, completed-at\)$/);
    expect(lines[4]).toMatch(/^2026-11-26 04:15:00Z\s+2d 1h ago\s+1000 B\s+0007_rename\s+/);
  });

  it('--json gives the rows for scripts', async () => {
    const r = await run(['--json']);
    const rows = JSON.parse(r.out);
    expect(rows.map((x: { key: string }) => x.key)).toEqual([
      'backups/postgres/20261128T041500.000Z.dump',
      'backups/postgres/20261127T041500.000Z.dump',
      'backups/postgres/20261126T041500.000Z.dump',
    ]);
    expect(rows[0]).toMatchObject({
      complete: true,
      ageSeconds: 7020,
      sizeBytes: 3 * 1024 * 1024,
      problem: null,
    });
    expect(rows[1]).toMatchObject({ complete: false, alembicRevision: '0008_add_task_ready_at' });
  });

  it('says so when there are none, and refuses a prefix outside backups/', async () => {
    const empty = new FakeObjects();
    expect((await run([], empty)).out).toBe('No backups under s3://dalston-test-bucket/backups/postgres/\n');
    const bad = await run(['--prefix', 'status/']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--prefix must start with backups/');
  });
});
