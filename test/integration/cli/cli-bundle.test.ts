import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// What `npm install -g .` (or `npm link`) installs: package.json's bin entry, linked onto PATH.
const root = fileURLToPath(new URL('../../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};

function exec(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Run as the shell would run a bin link: the file itself (its shebang), no NODE_PATH, far from node_modules.
    execFile(
      file,
      args,
      { cwd, env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

describe('dalston-aws delivered as one bundle (npm run build, then npm install -g .)', () => {
  let outside: string;
  let link: string;
  beforeAll(() => {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'pipe' });
    outside = mkdtempSync(join(tmpdir(), 'dh-cli-bundle-'));
    // npm's global bin is a symlink to the package's bin file, like this one.
    link = join(outside, 'dalston-aws');
    symlinkSync(join(root, pkg.bin['dalston-aws']!), link);
  }, 300_000);
  afterAll(() => rmSync(outside, { recursive: true, force: true }));

  it('package.json bin points at the executable bundle, not the TypeScript launcher', () => {
    expect(pkg.bin['dalston-aws']).toBe('dist/dalston-aws.mjs');
    accessSync(join(root, 'dist/dalston-aws.mjs'), constants.X_OK);
    expect(readFileSync(join(root, 'dist/dalston-aws.mjs'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('runs through the link from anywhere: version, help, usage exit code', async () => {
    const v = await exec(link, ['--version'], outside);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`^dalston-aws ${pkg.version.replace(/\./g, '\\.')} \\(`));
    const h = await exec(link, ['status', '--help'], outside);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage: dalston-aws status/);
    const bad = await exec(link, ['frobnicate'], outside);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^dalston-aws: unknown command "frobnicate"/);
  });

  it("through the link, the default Terraform directory is still the clone's", async () => {
    // No deployment in the environment: the message names the clone's environments/dev, resolved through the link.
    const r = await exec(link, ['status', '--region', 'eu-west-2'], outside);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(join(root, 'infra/terraform/environments/dev'));
  });
});
