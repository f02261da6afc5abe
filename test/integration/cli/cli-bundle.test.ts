import { execFile, execFileSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// What `npm install -g .` installs: package.json's bin entry, linked onto PATH. A real global install
// into a scratch prefix, so the chunks beside dist/dalston-aws.mjs are found the way a user's are.
const root = fileURLToPath(new URL('../../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};

function exec(
  file: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Run as the shell would run a bin link: the file itself (its shebang), no NODE_PATH, far from node_modules.
    execFile(
      file,
      args,
      { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

// The chunk files a bundle file loads (esbuild prints `from"./x.mjs"`, `import"./x.mjs"`, `import("./x.mjs")`).
const chunkImports = (src: string, dynamic: boolean): string[] =>
  [...src.matchAll(dynamic ? /\bimport\(\s*"\.\/([^"]+)"\s*\)/g : /\b(?:from|import)\s*"\.\/([^"]+)"/g)].map(
    (m) => m[1]!,
  );

/** Files of `dir` reachable from `entries` through static imports (and dynamic ones too when asked). */
function reachable(
  dir: string,
  entries: string[],
  followDynamic: boolean,
): { files: Set<string>; missing: string[] } {
  const files = new Set<string>();
  const missing: string[] = [];
  const visit = (file: string) => {
    if (files.has(file) || missing.includes(file)) return;
    if (!existsSync(join(dir, file))) {
      missing.push(file);
      return;
    }
    files.add(file);
    const src = readFileSync(join(dir, file), 'utf8');
    for (const f of chunkImports(src, false)) visit(f);
    if (followDynamic) for (const f of chunkImports(src, true)) visit(f);
  };
  for (const e of entries) visit(e);
  return { files, missing };
}

describe('dalston-aws as `npm install -g .` installs it (npm run build, then a global install into a scratch prefix)', () => {
  let outside: string;
  let bin: string;
  let installedDist: string;
  beforeAll(() => {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'pipe' });
    outside = mkdtempSync(join(tmpdir(), 'dh-cli-bundle-'));
    const prefix = join(outside, 'prefix');
    execFileSync('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, '.'], {
      cwd: root,
      stdio: 'pipe',
    });
    bin = join(prefix, 'bin', 'dalston-aws');
    installedDist = dirname(realpathSync(bin));
    mkdirSync(join(outside, 'home'));
  }, 300_000);
  afterAll(() => rmSync(outside, { recursive: true, force: true }));

  it('package.json bin points at the executable bundle, not the TypeScript launcher', () => {
    expect(pkg.bin['dalston-aws']).toBe('dist/dalston-aws.mjs');
    accessSync(join(root, 'dist/dalston-aws.mjs'), constants.X_OK);
    expect(readFileSync(join(root, 'dist/dalston-aws.mjs'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('runs through the installed link from anywhere: version, help, usage exit code', async () => {
    const v = await exec(bin, ['--version'], outside);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`^dalston-aws ${pkg.version.replace(/\./g, '\\.')} \\(`));
    const h = await exec(bin, ['status', '--help'], outside);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage: dalston-aws status/);
    const bad = await exec(bin, ['frobnicate'], outside);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^dalston-aws: unknown command "frobnicate"/);
  });

  it("through the link, the default Terraform directory is still the clone's", async () => {
    // No deployment in the environment: the message names the clone's environments/dev, resolved through the link.
    const r = await exec(bin, ['status', '--region', 'eu-west-2'], outside);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(join(root, 'infra/terraform/environments/dev'));
  });

  it('a command that calls AWS loads the SDK from its chunks, lazy credential providers included', async () => {
    // A deployment but no credentials anywhere (empty HOME, no instance metadata): the SDK walks its
    // whole provider chain, each provider a chunk of its own, and the CLI says what is missing.
    const r = await exec(bin, ['status'], outside, {
      HOME: join(outside, 'home'),
      DALSTON_INSTANCE_ID: 'i-0123456789abcdef0',
      DALSTON_BUCKET: 'dalston-bundle-test',
      AWS_REGION: 'eu-west-2',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(r.stderr).toBe(
      'dalston-aws: no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws configure` / `aws sso login`\n',
    );
    expect(r.code).toBe(78);
  });

  it('every chunk the bundle can load is installed, and --version loads a small part of it without the SDK', () => {
    const all = reachable(installedDist, ['dalston-aws.mjs'], true);
    expect(all.missing).toEqual([]);
    // The AWS SDK (EC2 client, credential providers), zx and zod are in chunks of their own.
    expect(all.files.size).toBeGreaterThan(10);
    // What runs before a command is chosen: the entry, what it imports, and cli/main.ts's chunk, which it
    // imports at once. Any one of the SDK, zx or zod chunks alone is larger than this budget.
    const entry = readFileSync(join(installedDist, 'dalston-aws.mjs'), 'utf8');
    const eager = reachable(installedDist, ['dalston-aws.mjs', ...chunkImports(entry, true)], false);
    expect(eager.missing).toEqual([]);
    const bytes = [...eager.files].reduce((n, f) => n + statSync(join(installedDist, f)).size, 0);
    expect(bytes).toBeLessThan(100_000);
    const sdkClient = /\bEC2Client=class\b|\bclass EC2Client\b/;
    for (const f of eager.files)
      expect(readFileSync(join(installedDist, f), 'utf8'), f).not.toMatch(sdkClient);
    // The SDK's client is somewhere among the chunks (the marker above would see it).
    expect([...all.files].some((f) => sdkClient.test(readFileSync(join(installedDist, f), 'utf8')))).toBe(
      true,
    );
  });
});
