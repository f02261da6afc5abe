import { spawn } from 'node:child_process';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { Shell } from '../shared/shell.ts';
import type { Clock } from '../shared/time/clock.ts';
import { createEc2Client, type Ec2Api, SdkEc2 } from './aws/ec2.ts';
import { type ParameterReader, sdkParameters } from './aws/parameters.ts';
import { createS3Client, type ObjectReader, S3ObjectReader } from './aws/snapshots.ts';
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

export async function sdkProfileRegion(profile: string | undefined): Promise<string | undefined> {
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
  return new SdkEc2(createEc2Client({ region: d.region, profile: d.profile }), {
    profile: d.profile,
    timeoutMs: AWS_CALL_TIMEOUT_MS,
  });
}

export function sdkObjects(env: NodeJS.ProcessEnv) {
  return (d: Deployment): ObjectReader =>
    new S3ObjectReader(createS3Client({ region: d.region, profile: d.profile }, env), {
      profile: d.profile,
      timeoutMs: AWS_CALL_TIMEOUT_MS,
    });
}

export function sdkParameterReader(d: Deployment): ParameterReader {
  return sdkParameters(d, AWS_CALL_TIMEOUT_MS);
}
