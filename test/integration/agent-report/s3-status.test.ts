import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3StatusReporter, type S3StatusReporter } from '../../../agent/report/s3-status.ts';
import { S3ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { memoryLogger, snapshot } from '../../unit/agent/report/fixtures.ts';

// s3rver ships no types; this is the part of its API the test uses.
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

const BUCKET = 'dalston-status-test';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

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
  let dir: string;
  let s3rver: S3rverInstance | null = null;
  let port = 0;
  let reader: S3Client;
  let reporter: S3StatusReporter | null = null;

  const startS3rver = async () => {
    s3rver = new S3rver({
      address: '127.0.0.1',
      port,
      directory: dir,
      silent: true,
      configureBuckets: [{ name: BUCKET, configs: [] }],
    });
    port = (await s3rver.run()).port;
  };
  const stopS3rver = async () => {
    await s3rver?.close();
    s3rver = null;
  };
  const readBack = async (key: string): Promise<StatusSnapshot> => {
    const r = await reader.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(r.ContentType).toBe('application/json');
    return JSON.parse(await r.Body!.transformToString()) as StatusSnapshot;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dh-s3rver-'));
    await startS3rver();
    reader = new S3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials,
    });
  });
  afterAll(async () => {
    reporter?.stop();
    reader?.destroy();
    await stopS3rver();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('uploads, records errors while S3 is down without throwing, and recovers', async () => {
    const { logger, lines } = memoryLogger();
    reporter = createS3StatusReporter({
      store: new S3ObjectStore({
        bucket: BUCKET,
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${port}`,
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
    await stopS3rver();
    expect(() => reporter!.update(snapshot({ state: 'degraded' }))).not.toThrow();
    await waitFor(() => reporter!.state().lastError !== null, 'an upload error to be recorded');
    expect(reporter.state().lastError).toMatch(/ECONNREFUSED|connect|socket|fetch/i);
    await expect(reporter.flush(1_000)).resolves.toBeUndefined();
    expect(lines.some((l) => l.msg === 'S3 status upload failed; will retry')).toBe(true);

    // 3. S3 comes back on the same port: the pending change arrives, the error clears.
    await startS3rver();
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
        endpoint: `http://127.0.0.1:${port}`,
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
