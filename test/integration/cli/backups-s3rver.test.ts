import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectReader } from '../../../cli/aws/snapshots.ts';
import { listBackups } from '../../../cli/backups-report.ts';
import { completeMetadata, startMetadata } from '../../../shared/backup/backup-object.ts';
import { type LocalS3, startS3rver } from '../../helpers/s3rver.ts';

/** `dalston-aws backups`' S3 side (ListObjectsV2, HeadObject metadata) against s3rver. */

const BUCKET = `dalston-backups-${process.pid}`;
let local: LocalS3;
let s3: S3Client;

beforeAll(async () => {
  local = await startS3rver(BUCKET);
  s3 = local.client;
});
afterAll(async () => {
  await local?.close();
});

describe('listing backups from S3', () => {
  it("lists the dumps and reads each one's metadata; incomplete uploads are marked", async () => {
    const base = Date.parse('2026-11-01T04:15:00.000Z');
    const n = 12;
    for (let i = 0; i < n; i++) {
      const at = new Date(base + i * 60_000);
      const s = {
        dalstonRef: 'v1.2.3',
        alembicRevision: i === n - 1 ? null : '0008_add_task_ready_at',
        postgresVersion: '15.14',
        database: 'dalston',
        hostVersion: '0.1.0',
        instance: 'i-0e2e',
        startedAt: at,
      };
      const body = Buffer.from(`PGDMP ${i}`);
      const meta =
        i === 5
          ? startMetadata(s)
          : completeMetadata(s, {
              sha256: 'e'.repeat(64),
              sizeBytes: body.length,
              durationSeconds: 1,
              completedAt: at,
            });
      const key = `backups/postgres/${at.toISOString().replace(/[-:]/g, '')}.dump`;
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, Metadata: meta }));
    }
    const rows = await listBackups(
      new S3ObjectReader(s3, { timeoutMs: 10_000 }),
      BUCKET,
      'backups/postgres/',
      base + 2 * 86_400_000,
    );
    expect(rows).toHaveLength(n);
    expect(rows[0]).toMatchObject({ complete: true, alembicRevision: null, sizeBytes: 'PGDMP 11'.length });
    const incomplete = rows.filter((r) => !r.complete);
    expect(incomplete).toHaveLength(1);
    expect(incomplete[0]?.problem).toBe('incomplete (no sha256, size-bytes, completed-at)');
    expect(rows.at(-1)).toMatchObject({ at: '2026-11-01T04:15:00.000Z', ageSeconds: 2 * 86_400 });
  });
});
