/**
 * A real S3-compatible server (s3rver) with one bucket, for integration tests
 * that talk S3 through the real SDK. Starts on a free port; `close()` stops it
 * and removes its files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
const S3rver = createRequire(import.meta.url)('s3rver') as new (
  opts: Record<string, unknown>,
) => S3rverInstance;

/** s3rver accepts any credentials of this shape. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface LocalS3 {
  endpoint: string;
  port: number;
  bucket: string;
  client: S3Client;
  /** The folder s3rver keeps its objects in (`<bucket>/<key>._S3rver_object`). */
  dir: string;
  /** Stops the server and keeps its files, so tests can see S3 go away. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same objects. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** s3rver has no versioning (object versions are null): tests of version ids use ETags. */
export async function startS3rver(bucket: string): Promise<LocalS3> {
  const dir = await mkdtemp(path.join(process.env.DALSTON_TEST_TMP ?? tmpdir(), 's3rver-'));
  const launch = async (port: number) => {
    const s = new S3rver({ address: '127.0.0.1', port, silent: true, directory: dir });
    return { server: s, port: (await s.run()).port };
  };
  let { server, port } = await launch(0);
  let running = true;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: S3RVER_CREDENTIALS,
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const stop = async () => {
    if (running) await server.close();
    running = false;
  };
  return {
    endpoint,
    port,
    bucket,
    client,
    dir,
    stop,
    async restart() {
      await stop();
      // The bucket is a folder of `dir`: it is there again after the restart.
      ({ server, port } = await launch(port));
      running = true;
    },
    async close() {
      client.destroy();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
