import { spawn } from 'node:child_process';
import type { Shell } from '../shared/shell.ts';
import type { Clock } from '../shared/time/clock.ts';
import type { Ec2Api } from './aws/ec2.ts';
import type { ParameterReader } from './aws/parameters.ts';
import type { ObjectReader } from './aws/snapshots.ts';
import type { Deployment } from './deployment.ts';
import type { Output } from './render/progress.ts';

/** Runs a program with the terminal handed over (ssh, aws ssm); resolves with its exit code. */
export interface InteractiveRunner {
  run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number>;
}

export const spawnInteractive: InteractiveRunner = {
  run: (cmd, args, env) =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, [...args], { stdio: 'inherit', env });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
    }),
};

export interface GatewayProbe {
  check(url: string): Promise<{ ok: boolean; detail: string }>;
}

export const fetchGatewayProbe: GatewayProbe = {
  async check(url) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return { ok: res.ok, detail: `HTTP ${res.status}` };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return { ok: false, detail: cause ?? (err as Error).name ?? 'no answer' };
    }
  },
};

/** Everything a command touches outside itself; tests replace any part. */
export interface CliContext {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  /** Runs `terraform output -json`. */
  shell: Shell;
  ec2(d: Deployment): Ec2Api;
  objects(d: Deployment): ObjectReader;
  /** SSM parameters (the admin API key). */
  parameters(d: Deployment): ParameterReader;
  interactive: InteractiveRunner;
  gateway: GatewayProbe;
  /** The region configured for an AWS profile, if any (the SDK's own lookup). */
  profileRegion(profile: string | undefined): Promise<string | undefined>;
}

const AWS_CALL_TIMEOUT_MS = 20_000;

/**
 * The real adapters are imported on first use, not at start: evaluating the AWS SDK (and zx) costs
 * about a second, which `--help`, `--version` and commands that never call AWS must not pay.
 * The factories stay synchronous; the client is created inside the first call, which is async anyway.
 * `methods` lists every method of the interface (the `Record` makes the compiler check that).
 */
function lazyAdapter<T extends { [K in keyof T]: (...args: never[]) => Promise<unknown> }>(
  create: () => Promise<T>,
  methods: Record<keyof T, true>,
): T {
  let real: Promise<T> | undefined;
  const adapter: Partial<Record<keyof T, unknown>> = {};
  for (const name of Object.keys(methods) as (keyof T)[]) {
    adapter[name] = async (...args: never[]) => {
      real ??= create();
      return (await real)[name](...args);
    };
  }
  return adapter as T;
}

const EC2_METHODS: Record<keyof Ec2Api, true> = {
  describeInstance: true,
  describeVolumes: true,
  startInstance: true,
  stopInstance: true,
};
const OBJECT_METHODS: Record<keyof ObjectReader, true> = {
  getText: true,
  list: true,
  metadata: true,
  putText: true,
  delete: true,
  getVersioned: true,
  headVersion: true,
  putTextIfMatch: true,
};

/** The real shell (zx), imported on the first `terraform output`. */
export const lazyShell: Shell = lazyAdapter<Shell>(
  async () => new (await import('../shared/shell.ts')).ZxShell(),
  { run: true },
);

export async function sdkProfileRegion(profile: string | undefined): Promise<string | undefined> {
  const { EC2Client } = await import('@aws-sdk/client-ec2');
  const client = new EC2Client(profile ? { profile } : {});
  try {
    return await client.config.region();
  } catch {
    return undefined; // "Region is missing": nothing configured
  } finally {
    client.destroy();
  }
}

export function sdkEc2(d: Deployment): Ec2Api {
  return lazyAdapter<Ec2Api>(async () => {
    const { createEc2Client, SdkEc2 } = await import('./aws/ec2.ts');
    return new SdkEc2(createEc2Client({ region: d.region, profile: d.profile }), {
      profile: d.profile,
      timeoutMs: AWS_CALL_TIMEOUT_MS,
    });
  }, EC2_METHODS);
}

export function sdkObjects(env: NodeJS.ProcessEnv) {
  return (d: Deployment): ObjectReader =>
    lazyAdapter<ObjectReader>(async () => {
      const { createS3Client, S3ObjectReader } = await import('./aws/snapshots.ts');
      return new S3ObjectReader(createS3Client({ region: d.region, profile: d.profile }, env), {
        profile: d.profile,
        timeoutMs: AWS_CALL_TIMEOUT_MS,
      });
    }, OBJECT_METHODS);
}

export function sdkParameterReader(d: Deployment): ParameterReader {
  return lazyAdapter<ParameterReader>(
    async () => (await import('./aws/parameters.ts')).sdkParameters(d, AWS_CALL_TIMEOUT_MS),
    { getSecure: true },
  );
}
