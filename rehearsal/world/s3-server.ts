/**
 * The stand-in for S3, run inside the machine's network namespace (started by
 * world/s3.ts through `ip netns exec`): an s3rver on 127.0.0.1 with the
 * artifacts bucket, pre-loaded with the release bundle. Objects the agent
 * uploads (status snapshots) land in `--dir` on the host's disk.
 *   s3-server.ts --dir DIR --port N --bucket B [--put KEY=FILE ...]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    port: { type: 'string' },
    bucket: { type: 'string' },
    put: { type: 'string', multiple: true, default: [] },
  },
});
if (!values.dir || !values.port || !values.bucket) {
  console.error('usage: s3-server.ts --dir DIR --port N --bucket B [--put KEY=FILE ...]');
  process.exit(2);
}
const port = Number(values.port);
const server = new S3rver({
  address: '127.0.0.1',
  port,
  directory: values.dir,
  silent: true,
  configureBuckets: [{ name: values.bucket, configs: [] }],
});
await server.run();

const s3 = new S3Client({
  endpoint: `http://127.0.0.1:${port}`,
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
});
for (const spec of values.put) {
  const eq = spec.indexOf('=');
  const key = spec.slice(0, eq);
  const body = await readFile(spec.slice(eq + 1));
  await s3.send(new PutObjectCommand({ Bucket: values.bucket, Key: key, Body: body }));
}
// The launcher waits for this line.
console.log(JSON.stringify({ ready: true, port }));

const stop = () => {
  void server.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
