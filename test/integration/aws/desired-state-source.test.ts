import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import { DESIRED_STATE_KEY } from '../../../shared/desired/desired-state.ts';
import { readDesiredState } from '../../../shared/desired/desired-state-source.ts';
import { type LocalS3, S3RVER_CREDENTIALS, startS3rver } from '../../helpers/s3rver.ts';

// The desired state read through the real SDK from a real S3-compatible server:
// the conditional GET must not download an unchanged object, and every failure is an answer.
let s3: LocalS3;
let store: S3ObjectStore;

const doc = (ref: string) =>
  JSON.stringify({
    schemaVersion: 1,
    release: { version: '0.3.0', key: 'releases/dalston-host-0.3.0.tgz', sha256: 'a'.repeat(64) },
    host: { dalston: { ref } },
  });
const put = (body: string) =>
  s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: DESIRED_STATE_KEY, Body: body }));

beforeAll(async () => {
  s3 = await startS3rver(`desired-${process.pid}`);
  store = new S3ObjectStore({ bucket: s3.bucket, endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS });
});
afterAll(async () => {
  store?.destroy();
  await s3?.close();
});

describe('readDesiredState against s3rver', () => {
  it('says missing before anything is published', async () => {
    expect(await readDesiredState(store)).toEqual({
      kind: 'missing',
      where: `s3://${s3.bucket}/config/host.json`,
    });
  });

  it('reads, then answers unchanged for the same ETag, then reads the new version', async () => {
    await put(doc('v1.0.0'));
    const first = await readDesiredState(store);
    if (first.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(first)}`);
    expect(first.state.host.dalston.ref).toBe('v1.0.0');
    expect(first.etag).not.toBe('');
    expect(await readDesiredState(store, first.etag)).toEqual({ kind: 'unchanged' });
    await put(doc('v1.1.0'));
    const second = await readDesiredState(store, first.etag);
    if (second.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(second)}`);
    expect(second.state.host.dalston.ref).toBe('v1.1.0');
    expect(second.etag).not.toBe(first.etag);
  });

  it('names the key at fault in an invalid object', async () => {
    await put(JSON.stringify({ ...JSON.parse(doc('v1.0.0')), host: { dataDir: 'relative' } }));
    const r = await readDesiredState(store);
    expect(r.kind).toBe('invalid');
    expect(r.kind === 'invalid' && r.reason).toMatch(
      /^s3:\/\/desired-\d+\/config\/host\.json: host\.dataDir: /,
    );
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: DESIRED_STATE_KEY }));
  });

  it('a missing bucket or an unreachable endpoint is unreachable, never missing', async () => {
    const other = new S3ObjectStore({
      bucket: 'no-such-bucket',
      endpoint: s3.endpoint,
      credentials: S3RVER_CREDENTIALS,
    });
    const r = await readDesiredState(other);
    other.destroy();
    expect(r.kind).toBe('unreachable');
    expect(r.kind === 'unreachable' && r.reason).toMatch(
      /^s3:\/\/no-such-bucket\/config\/host\.json: NoSuchBucket/,
    );
    const closed = new S3ObjectStore({
      bucket: s3.bucket,
      endpoint: 'http://127.0.0.1:9',
      credentials: S3RVER_CREDENTIALS,
      timeoutMs: 3_000,
      maxAttempts: 1,
    });
    const c = await readDesiredState(closed);
    closed.destroy();
    expect(c.kind).toBe('unreachable');
  });
});
