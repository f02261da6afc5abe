import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, UsageError } from '../shared/errors.ts';
import type { Shell } from '../shared/shell.ts';
import { DEFAULT_STATUS_PREFIX } from '../shared/status/s3-key.ts';
import type { StopSchedule } from './stop-cause.ts';

/** Where the CLI finds the deployment by default: the dev environment of this checkout. */
export const DEFAULT_TF_DIR = fileURLToPath(new URL('../infra/terraform/environments/dev', import.meta.url));
const DEFAULT_TF_DIR_LABEL = 'infra/terraform/environments/dev';

export interface DeploymentFlags {
  instanceId?: string | undefined;
  region?: string | undefined;
  bucket?: string | undefined;
  profile?: string | undefined;
  tfDir?: string | undefined;
  host?: string | undefined;
  user?: string | undefined;
  apiKeyParameter?: string | undefined;
}

export type Source = 'flag' | 'env' | 'terraform' | 'profile';

export interface Deployment {
  instanceId: string;
  region: string;
  bucket: string | null;
  profile: string | undefined;
  statusPrefix: string;
  tailscaleHostname: string | null;
  /** The SSM parameter holding the admin API key (DALSTON_API_KEY_PARAMETER, else output api_key_parameter). */
  apiKeyParameter?: string | null;
  sshUser: string;
  dataVolumeId: string | null;
  /** The backstop schedule (DALSTON_STOP_SCHEDULE, else output stop_schedule), or null: `status` names its stops. */
  stopSchedule: StopSchedule | null;
  sources: Partial<Record<Key, Source>>;
}

/** `cron(0 2 * * ? *) Europe/London` (zone optional, UTC by default). */
export function parseStopScheduleEnv(text: string): StopSchedule {
  const m = /^(cron\([^()]+\))\s*(\S+)?$/.exec(text.trim());
  if (!m) {
    throw new ConfigError(
      'DALSTON_STOP_SCHEDULE',
      `DALSTON_STOP_SCHEDULE="${text}" is not a schedule: expected e.g. "cron(0 2 * * ? *) Europe/London"`,
    );
  }
  return { expression: m[1]!, timezone: m[2] ?? 'UTC' };
}

function scheduleFromOutput(v: unknown): StopSchedule | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  return typeof o.expression === 'string' && typeof o.timezone === 'string'
    ? { expression: o.expression, timezone: o.timezone }
    : null;
}

export type Key = 'instanceId' | 'region' | 'bucket' | 'tailscaleHostname' | 'apiKeyParameter';
export type Need = Key;

interface KeySpec {
  what: string;
  flag: string;
  env: readonly string[];
  output: string;
  pattern?: RegExp;
  example?: string;
}

const KEYS: Record<Key, KeySpec> = {
  instanceId: {
    what: 'instance id',
    flag: '--instance-id',
    env: ['DALSTON_INSTANCE_ID'],
    output: 'instance_id',
    pattern: /^i-[0-9a-f]{8,17}$/,
    example: 'i-0123456789abcdef0',
  },
  region: {
    what: 'region',
    flag: '--region',
    env: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
    output: 'region',
    pattern: /^[a-z]{2}(-[a-z]+)+-\d+$/,
    example: 'eu-west-2',
  },
  bucket: {
    what: 'bucket',
    flag: '--bucket',
    env: ['DALSTON_BUCKET'],
    output: 'bucket_name',
    pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    example: 'my-dalston-artifacts',
  },
  tailscaleHostname: {
    what: 'Tailscale host name',
    flag: '--host',
    env: ['DALSTON_TAILSCALE_HOST'],
    output: 'tailscale_hostname',
  },
  apiKeyParameter: {
    what: 'API key parameter',
    flag: '--parameter',
    env: ['DALSTON_API_KEY_PARAMETER'],
    output: 'api_key_parameter',
    pattern: /^\/[A-Za-z0-9_.\-/]+$/,
    example: '/dalston/dalston/api-key',
  },
};

/** `terraform output -json`, read once and only when flags and environment left something open. */
export interface TerraformOutputs {
  values: Record<string, unknown>;
  /** Why there are no values, for the "missing" message; null when the read worked. */
  problem: string | null;
  /** What to do about `problem`, said first in the "missing" message; null when the read worked. */
  fix: string | null;
}

export async function readTerraformOutputs(shell: Shell, dir: string): Promise<TerraformOutputs> {
  const failed = (problem: string, fix = `make \`terraform -chdir=${dir} output -json\` work`) => ({
    values: {},
    problem,
    fix,
  });
  if (!existsSync(dir)) {
    return failed(`${dir} does not exist`, 'pass --tf-dir with the directory you ran `terraform apply` in');
  }
  let r: Awaited<ReturnType<Shell['run']>>;
  try {
    r = await shell.run('terraform', [`-chdir=${dir}`, 'output', '-no-color', '-json'], {
      timeoutMs: 60_000,
    });
  } catch (err) {
    return failed(`terraform could not run (${(err as Error).message.split('\n')[0]})`);
  }
  if (r.exitCode === 127) return failed('terraform is not installed', 'install terraform');
  if (r.exitCode !== 0) {
    // Terraform frames its diagnostics with box-drawing characters: skip those.
    const line = (r.stderr || r.stdout)
      .split('\n')
      .map((l) => l.replace(/^[│╷╵\s]+/, '').trim())
      .find((l) => l !== '');
    return failed(`terraform output failed: ${line ?? `exit ${r.exitCode}`}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    return failed('terraform output -json did not print JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return failed('terraform output -json did not print an object');
  }
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    values[k] = v && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : undefined;
  }
  if (Object.keys(values).length === 0) {
    return { values, problem: 'it has no outputs yet', fix: `run \`terraform apply\` in ${dir} first` };
  }
  return { values, problem: null, fix: null };
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;

/**
 * Resolves the deployment: flags, then environment, then `terraform output -json`
 * of the dev environment (or --tf-dir). Keys in `needs` must be found; when any
 * is missing, one ConfigError names each with its flag, variable and output.
 */
export async function resolveDeployment(
  flags: DeploymentFlags,
  env: NodeJS.ProcessEnv,
  shell: Shell,
  needs: readonly Need[],
  /** Last resort for the region: the one configured for the AWS profile (~/.aws/config). */
  profileRegion: (profile: string | undefined) => Promise<string | undefined> = async () => undefined,
): Promise<Deployment> {
  const tfDir = flags.tfDir ?? DEFAULT_TF_DIR;
  const tfLabel = flags.tfDir ?? DEFAULT_TF_DIR_LABEL;
  let tf: TerraformOutputs | null = null;
  const fromTf = async (name: string) => {
    tf ??= await readTerraformOutputs(shell, tfDir);
    return str(tf.values[name]);
  };

  const sources: Deployment['sources'] = {};
  const found: Partial<Record<Key, string>> = {};
  const flagValue: Record<Key, string | undefined> = {
    instanceId: flags.instanceId,
    region: flags.region,
    bucket: flags.bucket,
    tailscaleHostname: flags.host,
    apiKeyParameter: flags.apiKeyParameter,
  };
  for (const key of Object.keys(KEYS) as Key[]) {
    const spec = KEYS[key];
    const f = str(flagValue[key]);
    if (f !== undefined) {
      if (spec.pattern && !spec.pattern.test(f)) {
        throw new UsageError(`${spec.flag} "${f}" is not a valid ${spec.what} (e.g. ${spec.example})`);
      }
      found[key] = f;
      sources[key] = 'flag';
      continue;
    }
    const envName = spec.env.find((n) => str(env[n]) !== undefined);
    if (envName) {
      const v = str(env[envName])!;
      if (spec.pattern && !spec.pattern.test(v)) {
        throw new ConfigError(key, `${envName}="${v}" is not a valid ${spec.what} (e.g. ${spec.example})`);
      }
      found[key] = v;
      sources[key] = 'env';
      continue;
    }
    // Terraform is slow to start: only asked for what is needed now (once read, its other
    // values come free, e.g. the bucket `down` records the stop in).
    if (!needs.includes(key) && tf === null) continue;
    let v = await fromTf(spec.output);
    // No region output: the availability zone (eu-west-2a) names it too.
    if (v === undefined && key === 'region') v = (await fromTf('availability_zone'))?.replace(/[a-z]$/, '');
    if (v === undefined && key === 'region') {
      v = await profileRegion(str(flags.profile) ?? str(env.AWS_PROFILE)).catch(() => undefined);
      if (v !== undefined) {
        found[key] = v;
        sources[key] = 'profile';
        continue;
      }
    }
    if (v !== undefined) {
      if (spec.pattern && !spec.pattern.test(v)) {
        throw new ConfigError(key, `terraform output ${spec.output}="${v}" is not a valid ${spec.what}`);
      }
      found[key] = v;
      sources[key] = 'terraform';
    }
  }

  const missing = needs.filter((k) => found[k] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(missing.join(','), missingDeploymentMessage(missing, tf, tfLabel));
  }

  const statusPrefix =
    str(env.DALSTON_STATUS_PREFIX) ?? (tf ? str((tf as TerraformOutputs).values.status_prefix) : undefined);
  const sshUser =
    str(flags.user) ??
    str(env.DALSTON_SSH_USER) ??
    (tf ? str((tf as TerraformOutputs).values.ssh_user) : undefined);
  return {
    instanceId: found.instanceId ?? '',
    region: found.region ?? '',
    bucket: found.bucket ?? null,
    profile: str(flags.profile) ?? str(env.AWS_PROFILE),
    statusPrefix: statusPrefix ?? DEFAULT_STATUS_PREFIX,
    tailscaleHostname: found.tailscaleHostname ?? null,
    apiKeyParameter: found.apiKeyParameter ?? null,
    // Amazon Linux 2023's default login user.
    sshUser: sshUser ?? 'ec2-user',
    dataVolumeId: tf ? (str((tf as TerraformOutputs).values.data_volume_id) ?? null) : null,
    stopSchedule: str(env.DALSTON_STOP_SCHEDULE)
      ? parseStopScheduleEnv(env.DALSTON_STOP_SCHEDULE!)
      : tf
        ? scheduleFromOutput((tf as TerraformOutputs).values.stop_schedule)
        : null,
    sources,
  };
}

/**
 * Pure: the "deployment not found" message. The fix comes first, on a line of its own (what to do about
 * Terraform, or the values to give), then one line per missing value with its flag, variable and output.
 */
export function missingDeploymentMessage(
  missing: readonly Key[],
  tf: TerraformOutputs | null,
  tfLabel: string,
): string {
  const fix = tf?.fix
    ? `${tf.fix} (terraform in ${tfLabel}: ${tf.problem}), or give the values below.`
    : `give the values below (${tfLabel} has no output for them).`;
  const width = Math.max(...missing.map((k) => KEYS[k].what.length));
  const lines = missing.map((k) => {
    const s = KEYS[k];
    const profile = k === 'region' ? ', or a region in the AWS profile' : '';
    return `  ${s.what.padEnd(width)}  ${s.flag} or ${s.env.join(' / ')} (Terraform output "${s.output}"${profile})`;
  });
  return [`deployment not found. Fix: ${fix}`, ...lines].join('\n');
}
