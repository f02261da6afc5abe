import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ZxShell } from '../../shared/shell.ts';

/**
 * Offline Terraform with the real AWS provider. No registry can be reached here,
 * but the machine image carries a local filesystem mirror of hashicorp/aws
 * (`<root>/registry.terraform.io/hashicorp/aws/<version>/<os_arch>/terraform-provider-aws_*`).
 * The harness finds it, writes a CLI config that installs providers from it and
 * nowhere else, and hands that config to its own terraform runs only
 * (TF_CLI_CONFIG_FILE; the image's own setting names a file that does not exist).
 */

const PROVIDER = 'registry.terraform.io/hashicorp/aws';

export interface ProviderMirror {
  /** The directory holding registry.terraform.io/ (a filesystem_mirror path). */
  root: string;
  /** Provider versions present in it, e.g. ['5.100.0']. */
  versions: string[];
}

let found: Promise<ProviderMirror> | undefined;

/** Parses `find` output into the mirror root and versions; exported for its unit test. */
export function mirrorFromPaths(paths: readonly string[]): ProviderMirror | undefined {
  const marker = `${path.sep}${PROVIDER}${path.sep}`;
  const hits = paths.filter(
    (p) => p.includes(marker) && path.basename(p).startsWith('terraform-provider-aws_'),
  );
  if (hits.length === 0) return undefined;
  const root = hits[0]!.slice(0, hits[0]!.indexOf(marker));
  const versions = [
    ...new Set(
      hits
        .filter((p) => p.startsWith(root + marker))
        .map((p) => p.slice((root + marker).length).split(path.sep)[0]!),
    ),
  ].sort();
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
      `*${PROVIDER}*`,
      '-print',
    ],
    { timeoutMs: 120_000 },
  );
  const mirror = mirrorFromPaths(r.stdout.split('\n').filter(Boolean));
  if (!mirror) {
    throw new Error(
      `missing prerequisite: no local filesystem mirror of the Terraform provider ${PROVIDER} ` +
        `(searched / for terraform-provider-aws_* under a ${PROVIDER}/<version>/<os_arch>/ directory). ` +
        'The machine image carries one (hashicorp/aws 5.100.0); without it `terraform init` cannot install ' +
        'the AWS provider offline and the Terraform plan tests cannot run.',
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
