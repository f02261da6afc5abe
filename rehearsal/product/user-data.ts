import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runChecked, type Shell } from '../../shared/shell.ts';

/** What the rehearsal feeds the real provider-free Terraform module (infra/terraform/modules/host-config). */
export interface UserDataInputs {
  repo: string;
  releaseVersion: string;
  dalstonRef: string;
  imageTag: string;
  services: readonly string[];
}

export interface RenderedHost {
  userData: string;
  /** The desired-state document Terraform publishes at config/host.json. */
  desiredState: string;
  hostJson: Record<string, unknown>;
  composeEnv: string;
  bucket: string;
  releaseKey: string;
  releaseSha256: string;
}

// Fixed, obviously fake AWS identifiers: nothing here reaches AWS.
export const REHEARSAL_ACCOUNT_ID = '123456789012';
export const REHEARSAL_REGION = 'eu-west-2';
export const REHEARSAL_VOLUME_ID = 'vol-0123456789abcdef0';

/** Pure: the root configuration that calls the module with the rehearsal's inputs. */
export function rootConfig(i: UserDataInputs): string {
  const q = (s: string) => JSON.stringify(s);
  return `module "host_config" {
  source            = ${q(path.join(i.repo, 'infra', 'terraform', 'modules', 'host-config'))}
  account_id        = ${q(REHEARSAL_ACCOUNT_ID)}
  region            = ${q(REHEARSAL_REGION)}
  release_version   = ${q(i.releaseVersion)}
  release_dir       = ${q(path.join(i.repo, 'dist'))}
  data_volume_id    = ${q(REHEARSAL_VOLUME_ID)}
  os_family         = "al2023"
  compose_services  = ${JSON.stringify(i.services)}
  dalston_ref       = ${q(i.dalstonRef)}
  dalston_image_tag = ${q(i.imageTag)}
}

output "user_data" {
  value = module.host_config.user_data
}
output "desired_state" {
  value = module.host_config.desired_state
}
output "host_json" {
  value = module.host_config.host_json
}
output "compose_env" {
  value = module.host_config.compose_env
}
output "bucket_name" {
  value = module.host_config.bucket_name
}
output "release_key" {
  value = module.host_config.release_key
}
output "release_sha256" {
  value = module.host_config.release_sha256
}
`;
}

/** Renders the instance's user-data with real Terraform (init + apply of a provider-free root, local state). */
export async function renderUserData(
  shell: Shell,
  workDir: string,
  i: UserDataInputs,
): Promise<RenderedHost> {
  await mkdir(workDir, { recursive: true });
  await writeFile(path.join(workDir, 'main.tf'), rootConfig(i));
  const env = {
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    CHECKPOINT_DISABLE: '1',
    TF_DATA_DIR: path.join(workDir, '.terraform'),
  };
  const tf = (args: string[]) =>
    runChecked(shell, 'terraform', [`-chdir=${workDir}`, ...args], { env, timeoutMs: 5 * 60_000 });
  await tf(['init', '-input=false', '-no-color', '-backend=false']);
  await tf(['apply', '-auto-approve', '-input=false', '-no-color']);
  const outputs = JSON.parse(await tf(['output', '-json', '-no-color'])) as Record<string, { value: string }>;
  const val = (k: string) => {
    const v = outputs[k]?.value;
    if (typeof v !== 'string') throw new Error(`terraform output ${k} is missing`);
    return v;
  };
  return {
    userData: val('user_data'),
    desiredState: val('desired_state'),
    hostJson: JSON.parse(val('host_json')) as Record<string, unknown>,
    composeEnv: val('compose_env'),
    bucket: val('bucket_name'),
    releaseKey: val('release_key'),
    releaseSha256: val('release_sha256'),
  };
}

/**
 * Pure: the desired-state document with its host.json changed by `patch` (the
 * rehearsal's stand-ins: a loop device instead of an EBS volume id, the local
 * S3 endpoint, the local Dalston repository). The release and everything else stay.
 */
export function patchDesiredState(
  desiredState: string,
  patch: (hostJson: Record<string, unknown>) => Record<string, unknown>,
): string {
  const doc = JSON.parse(desiredState) as { host?: Record<string, unknown> };
  if (!doc.host || typeof doc.host !== 'object') throw new Error('the rendered desired state has no host');
  return JSON.stringify({ ...doc, host: patch(doc.host) });
}

/** Pure: the desired-state document naming another release (what `terraform apply` publishes for a new release_version). */
export function withDesiredRelease(
  desiredState: string,
  release: { version: string; key: string; sha256: string },
): string {
  const doc = JSON.parse(desiredState) as { release?: unknown };
  if (!doc.release || typeof doc.release !== 'object') throw new Error('the desired state has no release');
  return JSON.stringify({ ...doc, release: { ...release } });
}

export async function readServices(repo: string): Promise<string[]> {
  const raw = JSON.parse(await readFile(path.join(repo, 'compose', 'services.cpu.json'), 'utf8')) as unknown;
  if (!Array.isArray(raw) || !raw.every((s) => typeof s === 'string')) {
    throw new Error('compose/services.cpu.json must be a JSON array of service names');
  }
  return raw;
}
