import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ZxShell } from '../../shared/shell.ts';

/**
 * Offline Terraform with the real AWS provider. No registry can be reached here,
 * but the machine image carries a local filesystem mirror of hashicorp/aws, in
 * Terraform's unpacked layout `<root>/<registry host>/hashicorp/aws/<version>/<os_arch>/
 * terraform-provider-aws_*`. The harness finds it, writes a CLI config that installs
 * providers from it and nowhere else, and hands that config to its own terraform runs
 * only (TF_CLI_CONFIG_FILE; the image's own setting names a file that does not exist).
 */

/** Provider source address as the configurations write it (the registry host is implied). */
const PROVIDER = 'hashicorp/aws';

/** `<root>/<host>/hashicorp/aws/<version>/<os_arch>/terraform-provider-aws_…`: root and version captured. */
const LAYOUT = /^(.+)\/[^/]+\/hashicorp\/aws\/([^/]+)\/[^/]+\/terraform-provider-aws_[^/]+$/;

export interface ProviderMirror {
  /** The directory holding the registry-host directory: a filesystem_mirror path. */
  root: string;
  /** Provider versions present in it, e.g. ['5.100.0']. */
  versions: string[];
}

let found: Promise<ProviderMirror> | undefined;

/** Parses `find` output into the mirror root and versions; exported for its unit test. */
export function mirrorFromPaths(paths: readonly string[]): ProviderMirror | undefined {
  const hits = paths.map((p) => LAYOUT.exec(p)).filter((m): m is RegExpExecArray => m !== null);
  if (hits.length === 0) return undefined;
  const root = hits[0]![1]!;
  const versions = [...new Set(hits.filter((m) => m[1] === root).map((m) => m[2]!))].sort();
  return { root, versions };
}

async function search(): Promise<ProviderMirror> {
  // Whole root filesystem, as the image documents it; node_modules and .git trees are
  // pruned only because they are large and never hold a provider mirror.
  const r = await new ZxShell().run(
    'find',
    [
      '/',
      '-xdev',
      '(',
      '-name',
      'node_modules',
      '-o',
      '-name',
      '.git',
      ')',
      '-prune',
      '-o',
      '-name',
      'terraform-provider-aws_*',
      '-path',
      `*/${PROVIDER}/*`,
      '-print',
    ],
    { timeoutMs: 120_000 },
  );
  const mirror = mirrorFromPaths(r.stdout.split('\n').filter(Boolean));
  if (!mirror) {
    throw new Error(
      `missing prerequisite: no local filesystem mirror of the Terraform provider ${PROVIDER} ` +
        `(searched / for terraform-provider-aws_* in a <mirror>/<registry host>/${PROVIDER}/<version>/<os_arch>/ ` +
        'directory). The machine image carries one (hashicorp/aws 5.100.0); without it `terraform init` ' +
        'cannot install the AWS provider offline and the Terraform plan tests cannot run.',
    );
  }
  return mirror;
}

/** The image's AWS provider mirror; searched once per test process, throws naming it when absent. */
export function findAwsProviderMirror(): Promise<ProviderMirror> {
  found ??= search();
  return found;
}

/** CLI config text: providers come from the mirror only (no registry, no plugin cache). */
export function mirrorCliConfig(mirror: ProviderMirror): string {
  return [
    'provider_installation {',
    '  filesystem_mirror {',
    `    path    = ${JSON.stringify(mirror.root)}`,
    `    include = [${JSON.stringify(PROVIDER)}]`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Writes the CLI config into `dir` and returns the environment for terraform runs
 * that use it. Everything else that could change terraform's behaviour is unset.
 */
export async function mirrorTerraformEnv(
  mirror: ProviderMirror,
  dir: string,
): Promise<Record<string, string | undefined>> {
  const file = path.join(dir, 'provider-mirror.tfrc');
  await writeFile(file, mirrorCliConfig(mirror));
  return {
    TF_CLI_CONFIG_FILE: file,
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    CHECKPOINT_DISABLE: '1',
    TF_PLUGIN_CACHE_DIR: undefined,
    TF_LOG: undefined,
    TF_DATA_DIR: undefined,
    TF_WORKSPACE: undefined,
  };
}
