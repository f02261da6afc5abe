import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startNetnsServer } from './netns-server.ts';

export interface S3StandIn {
  endpoint: string;
  /** Where s3rver keeps objects on the host (`<dir>/<bucket>/<key>._S3rver_object`). */
  dir: string;
  /** Puts `file` at `key` in the bucket (through the server, so ETags change as on S3). */
  put(key: string, file: string): Promise<void>;
  stop(): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** Starts the stand-in S3 inside the network namespace `netns` and waits until the objects are in. */
export async function startS3StandIn(opts: {
  netns: string;
  dir: string;
  port: number;
  bucket: string;
  put: Record<string, string>;
}): Promise<S3StandIn> {
  const server = await startNetnsServer({
    netns: opts.netns,
    script: path.join(here, 's3-server.ts'),
    args: [
      '--dir',
      opts.dir,
      '--port',
      String(opts.port),
      '--bucket',
      opts.bucket,
      ...Object.entries(opts.put).flatMap(([k, f]) => ['--put', `${k}=${f}`]),
    ],
    what: 'the stand-in S3 server',
  });
  const put = async (key: string, file: string) => {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    // biome-ignore format: option pairs read better on one line each
    await promisify(execFile)('ip', [
      'netns', 'exec', opts.netns, process.execPath, '--import', tsx, path.join(here, 's3-put.ts'),
      '--port', String(opts.port),
      '--bucket', opts.bucket,
      '--put', `${key}=${file}`,
    ], { timeout: 60_000 });
  };
  return { endpoint: `http://127.0.0.1:${opts.port}`, dir: opts.dir, put, stop: () => server.stop() };
}

/** Pure: where s3rver keeps an object's body under its directory. */
export function s3rverObjectPath(dir: string, bucket: string, key: string): string {
  return path.join(dir, bucket, `${key}._S3rver_object`);
}

/**
 * The S3 stand-in's newest `<prefix><instance>/latest.json` (s3rver keeps `<key>._S3rver_object`):
 * the instance that wrote last (the running one; other scenarios' instances share the bucket).
 */
export async function latestSnapshotFile(dir: string): Promise<string | null> {
  let newest: { file: string; mtime: number } | null = null;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name !== 'latest.json._S3rver_object') continue;
    const file = path.join(e.parentPath, e.name);
    const mtime = (await stat(file)).mtimeMs;
    if (!newest || mtime > newest.mtime) newest = { file, mtime };
  }
  return newest?.file ?? null;
}
