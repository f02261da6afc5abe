import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3StatusReporter, type S3StatusReporter } from '../../../agent/report/s3-status.ts';
import { S3ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { S3RVER_CREDENTIALS as credentials, type LocalS3, startS3rver } from '../../helpers/s3rver.ts';
import { memoryLogger, snapshot } from '../../unit/agent/report/fixtures.ts';

const BUCKET = 'dalston-status-test';

async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('S3 status reporter against a real s3rver', () => {
  let s3: LocalS3;
  let reporter: S3StatusReporter | null = null;

  const readBack = async (key: string): Promise<StatusSnapshot> => {
    const r = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(r.ContentType).toBe('application/json');
    return JSON.parse(await r.Body!.transformToString()) as StatusSnapshot;
  };

  beforeAll(async () => {
    s3 = await startS3rver(BUCKET);
  });
  afterAll(async () => {
    reporter?.stop();
    await s3?.close();
  });

  it('uploads, records errors while S3 is down without throwing, and recovers', async () => {
    const { logger, lines } = memoryLogger();
    reporter = createS3StatusReporter({
      store: new S3ObjectStore({
        bucket: BUCKET,
        region: 'us-east-1',
        endpoint: s3.endpoint,
        credentials,
        timeoutMs: 3_000,
      }),
      prefix: 'status/',
      instance: 'i-0123456789abcdef0',
      logger,
      // Short intervals keep the test fast; the throttle logic itself is unit-tested with a fake clock.
      minIntervalMs: 200,
      backoffMaxMs: 400,
    });
    const key = 'status/i-0123456789abcdef0/latest.json';
    expect(reporter.key).toBe(key);

    // 1. Upload and read back through @aws-sdk/client-s3.
    reporter.update(snapshot());
    await waitFor(() => reporter!.state().lastUploadAt !== null, 'the first upload');
    expect(reporter.state().lastError).toBeNull();
    expect(await readBack(key)).toEqual(snapshot());

    // 2. S3 goes away: the error is recorded, nothing throws.
    await s3.stop();
    expect(() => reporter!.update(snapshot({ state: 'degraded' }))).not.toThrow();
    await waitFor(() => reporter!.state().lastError !== null, 'an upload error to be recorded');
    expect(reporter.state().lastError).toMatch(/ECONNREFUSED|connect|socket|fetch/i);
    await expect(reporter.flush(1_000)).resolves.toBeUndefined();
    expect(lines.some((l) => l.msg === 'S3 status upload failed; will retry')).toBe(true);

    // 3. S3 comes back on the same port: the pending change arrives, the error clears.
    await s3.restart();
    await waitFor(() => reporter!.state().lastError === null, 'recovery', 20_000);
    expect((await readBack(key)).state).toBe('degraded');
    expect(lines.some((l) => l.msg === 'S3 status upload works again')).toBe(true);

    // 4. The final snapshot at shutdown.
    reporter.update(snapshot({ state: 'stopping' }));
    await reporter.flush(3_000);
    expect((await readBack(key)).state).toBe('stopping');
    reporter.stop();
  });

  it('records a clear error for a missing bucket', async () => {
    const { logger } = memoryLogger();
    const r = createS3StatusReporter({
      store: new S3ObjectStore({
        bucket: 'no-such-bucket',
        region: 'us-east-1',
        endpoint: s3.endpoint,
        credentials,
      }),
      prefix: 'status/',
      instance: 'host-a',
      logger,
    });
    try {
      r.update(snapshot());
      await waitFor(() => r.state().lastError !== null, 'the error');
      expect(r.state().lastError).toMatch(/NoSuchBucket/);
      expect(r.state().lastUploadAt).toBeNull();
    } finally {
      r.stop();
    }
  });
});
