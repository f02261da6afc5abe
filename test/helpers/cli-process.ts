/**
 * The real `dalston-aws` process for end-to-end CLI tests: run from the checkout
 * with only the environment a test gives it, pointed at local stand-ins.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3RVER_CREDENTIALS } from './s3rver.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(REPO, 'bin', 'dalston-aws.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The variables naming the stand-ins: s3rver, the EC2 stand-in, the test's instance and bucket. */
export interface StandInTargets {
  /** An empty scratch HOME, so no ~/.aws of the machine running the tests is read. */
  home: string;
  s3Endpoint: string;
  ec2Url: string;
  instance: string;
  bucket: string;
}

export function standInEnv(t: StandInTargets): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: t.home,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_S3: t.s3Endpoint,
    AWS_ENDPOINT_URL_EC2: t.ec2Url,
    DALSTON_INSTANCE_ID: t.instance,
    DALSTON_BUCKET: t.bucket,
  };
}

/**
 * Runs `dalston-aws ...args` with exactly `env` (a key set to undefined is left
 * out). Never rejects: `code` is -1 when the process did not exit with a code
 * (killed at `timeoutMs`).
 */
export function runDalstonAws(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<CliResult> {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: defined, cwd: REPO, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
