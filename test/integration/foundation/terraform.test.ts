import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ZxShell } from '../../../shared/shell.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';

const fixture = fileURLToPath(new URL('../../fixtures/terraform/fmt-good/', import.meta.url));
const shell = new ZxShell();

describe('harness: real terraform', () => {
  const terraform = requireCommand('terraform', 'install the Terraform CLI from HashiCorp (not in Debian)');

  it('terraform version answers', async () => {
    const r = await shell.run(terraform, ['version', '-json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).terraform_version).toMatch(/^1\.\d+\.\d+/);
  });

  it('fmt -check passes on a well-formatted file', async () => {
    const r = await shell.run(terraform, ['fmt', '-check', '-recursive', fixture]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  });

  it('fmt -check fails on a badly formatted copy and names the file', async () => {
    // Made here rather than committed, so a repo-wide `terraform fmt -check` stays green.
    const dir = await mkdtemp(path.join(requireEnv('DALSTON_TEST_TMP'), 'tf-'));
    await cp(fixture, dir, { recursive: true });
    const file = path.join(dir, 'main.tf');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace('  type        = string', 'type=string'));
    const r = await shell.run(terraform, ['fmt', '-check', '-recursive', dir]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain('main.tf');
  });
});
