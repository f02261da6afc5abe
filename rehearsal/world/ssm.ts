import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNetnsServer } from './netns-server.ts';

export interface SsmStandIn {
  endpoint: string;
  /** Replaces the parameter's value (what `aws ssm put-parameter --overwrite` would do). */
  putValue(value: string): Promise<void>;
  stop(): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Starts the stand-in SSM for one parameter inside the network namespace `netns`
 * (without one, in this namespace: tests; port 0 picks a free one). `writable`: one
 * more parameter that takes PutParameter, kept in `writable.file`.
 */
export async function startSsmStandIn(opts: {
  netns?: string;
  port: number;
  name: string;
  valueFile: string;
  value: string;
  writable?: { name: string; file: string };
}): Promise<SsmStandIn> {
  const putValue = (v: string) => writeFile(opts.valueFile, `${v}\n`, { mode: 0o600 });
  await putValue(opts.value);
  const server = await startNetnsServer({
    ...(opts.netns ? { netns: opts.netns } : {}),
    script: path.join(here, 'ssm-server.ts'),
    args: [
      '--port',
      String(opts.port),
      '--name',
      opts.name,
      '--value-file',
      opts.valueFile,
      ...(opts.writable ? ['--writable', `${opts.writable.name}=${opts.writable.file}`] : []),
    ],
    what: 'the stand-in SSM server',
  });
  return { endpoint: `http://127.0.0.1:${server.port}`, putValue, stop: () => server.stop() };
}
