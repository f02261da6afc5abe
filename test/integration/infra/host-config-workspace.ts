import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runChecked, type ShellResult, ZxShell } from '../../../shared/shell.ts';

/**
 * A temp copy of infra/terraform/modules/host-config, initialised with the real
 * terraform and no network or CLI config, so `.terraform` and state never land
 * in the repository. It also holds release-fixture/ with real bundles.
 */

export const repoRoot = path.resolve(import.meta.dirname, '../../..');
export const moduleSource = path.join(repoRoot, 'infra/terraform/modules/host-config');

export const shell = new ZxShell();

export const baseVars = {
  account_id: '123456789012',
  region: 'eu-west-2',
  release_version: '0.1.0',
  release_dir: 'release-fixture',
  data_volume_id: 'vol-0123456789abcdef0',
  compose_services: [
    'postgres',
    'redis',
    'gateway',
    'orchestrator',
    'stt-prepare',
    'stt-transcribe-faster-whisper',
  ],
  dalston_ref: 'v1.2.3',
  dalston_image_tag: '1.2.3',
};

export type Vars = Record<string, string | number | boolean | string[] | null>;

export interface Rendered {
  userData: string;
  hostJson: string;
  composeEnv: string;
  releaseSha256: string;
  /** The desired-state document Terraform publishes at config/host.json. */
  desiredState: string;
}

export interface Workspace {
  dir: string;
  tf(args: string[]): Promise<ShellResult>;
  render(vars: Vars, name: string): Promise<Rendered>;
  /** Bytes of the good 0.1.0 bundle and a tampered copy (same name, other content). */
  bundle: { good: string; tampered: string };
  cleanup(): Promise<void>;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A bundle shaped like the release contract: files at its root, no top directory. */
async function makeBundle(stage: string, out: string, version: string, extra = ''): Promise<void> {
  await rm(stage, { recursive: true, force: true });
  await mkdir(path.join(stage, 'systemd'), { recursive: true });
  await mkdir(path.join(stage, 'compose'), { recursive: true });
  await writeFile(path.join(stage, 'dalston-host.mjs'), `// dalston-host ${version}${extra}\n`);
  await writeFile(path.join(stage, 'VERSION'), `${version}\n`);
  await writeFile(path.join(stage, 'systemd/dalston.service'), '[Unit]\n');
  await writeFile(path.join(stage, 'systemd/dalston-bootstrap.service'), '[Unit]\n');
  await cp(path.join(repoRoot, 'compose'), path.join(stage, 'compose'), { recursive: true });
  await runChecked(shell, 'tar', ['-czf', out, '-C', stage, '.']);
}

export async function createWorkspace(): Promise<Workspace> {
  const dir = await mkdtemp(path.join(process.env.DALSTON_TEST_TMP ?? os.tmpdir(), 'host-config-'));
  const mod = path.join(dir, 'module');
  await cp(moduleSource, mod, { recursive: true, filter: (src) => !src.includes(`${path.sep}.terraform`) });
  const rel = path.join(mod, 'release-fixture');
  await mkdir(rel);

  const good = path.join(rel, 'dalston-host-0.1.0.tgz');
  await makeBundle(path.join(dir, 'stage'), good, '0.1.0');
  const goodBytes = await readFile(good);
  await writeFile(`${good}.sha256`, `${sha256(goodBytes)}  dalston-host-0.1.0.tgz\n`);

  // 0.1.1: a bundle whose .sha256 file does not match it (changed after the build).
  const stale = path.join(rel, 'dalston-host-0.1.1.tgz');
  await makeBundle(path.join(dir, 'stage'), stale, '0.1.1');
  await writeFile(`${stale}.sha256`, `${'0'.repeat(64)}  dalston-host-0.1.1.tgz\n`);

  const tampered = path.join(dir, 'tampered-0.1.0.tgz');
  await makeBundle(path.join(dir, 'stage'), tampered, '0.1.0', ' (tampered)');

  // Empty CLI config: no credentials helpers, no plugin cache, no provider mirrors.
  const cliConfig = path.join(dir, 'empty.tfrc');
  await writeFile(cliConfig, '');
  const env = {
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    CHECKPOINT_DISABLE: '1',
    TF_CLI_CONFIG_FILE: cliConfig,
    TF_LOG: undefined,
    TF_DATA_DIR: undefined,
    TF_WORKSPACE: undefined,
  };
  const tf = (args: string[]) => shell.run('terraform', args, { cwd: mod, env, timeoutMs: 120_000 });
  await runChecked(shell, 'terraform', ['init', '-no-color', '-input=false', '-backend=false'], {
    cwd: mod,
    env,
    timeoutMs: 120_000,
  });

  const render = async (vars: Vars, name: string): Promise<Rendered> => {
    const varFile = path.join(dir, `${name}.tfvars.json`);
    await writeFile(varFile, JSON.stringify(vars));
    const state = path.join(dir, `${name}.tfstate`);
    const apply = await tf([
      'apply',
      '-no-color',
      '-auto-approve',
      '-input=false',
      `-state=${state}`,
      `-var-file=${varFile}`,
    ]);
    if (apply.exitCode !== 0)
      throw new Error(`terraform apply (${name}) failed: ${apply.stderr || apply.stdout}`);
    const out = await tf(['output', '-no-color', `-state=${state}`, '-json']);
    if (out.exitCode !== 0) throw new Error(`terraform output (${name}) failed: ${out.stderr}`);
    const o = JSON.parse(out.stdout) as Record<string, { value: string }>;
    return {
      userData: o.user_data!.value,
      hostJson: o.host_json!.value,
      composeEnv: o.compose_env!.value,
      releaseSha256: o.release_sha256!.value,
      desiredState: o.desired_state!.value,
    };
  };

  return {
    dir,
    tf,
    render,
    bundle: { good, tampered },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
