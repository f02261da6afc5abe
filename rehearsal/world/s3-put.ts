/**
 * Puts objects into the stand-in S3 (world/s3-server.ts), run inside its network
 * namespace through `ip netns exec` by world/s3.ts: what `terraform apply` or
 * `dalston-aws deploy` does to the real bucket while the host is off or running.
 *   s3-put.ts --port N --bucket B --put KEY=FILE [--put ...]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    bucket: { type: 'string' },
    put: { type: 'string', multiple: true, default: [] },
  },
});
if (!values.port || !values.bucket || values.put.length === 0) {
  console.error('usage: s3-put.ts --port N --bucket B --put KEY=FILE [--put ...]');
  process.exit(2);
}
const s3 = new S3Client({
  endpoint: `http://127.0.0.1:${values.port}`,
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
});
for (const spec of values.put) {
  const eq = spec.indexOf('=');
  await s3.send(
    new PutObjectCommand({
      Bucket: values.bucket,
      Key: spec.slice(0, eq),
      Body: await readFile(spec.slice(eq + 1)),
    }),
  );
}
s3.destroy();
