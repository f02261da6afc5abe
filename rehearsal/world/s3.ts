import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface S3StandIn {
  endpoint: string;
  /** Where s3rver keeps objects on the host (`<dir>/<bucket>/<key>._S3rver_object`). */
  dir: string;
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
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const args = [
    'netns',
    'exec',
    opts.netns,
    process.execPath,
    '--import',
    tsx,
    path.join(here, 's3-server.ts'),
    '--dir',
    opts.dir,
    '--port',
    String(opts.port),
    '--bucket',
    opts.bucket,
    ...Object.entries(opts.put).flatMap(([k, f]) => ['--put', `${k}=${f}`]),
  ];
  const child: ChildProcess = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const deadline = Date.now() + 60_000;
  while (!out.includes('"ready":true')) {
    const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r('wait'), 100))]);
    if (done !== 'wait')
      throw new Error(`the stand-in S3 server exited (${done}): ${err.trim().slice(-500)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the stand-in S3 server did not start within 60 s: ${err.trim().slice(-500)}`);
    }
  }
  return {
    endpoint: `http://127.0.0.1:${opts.port}`,
    dir: opts.dir,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}
