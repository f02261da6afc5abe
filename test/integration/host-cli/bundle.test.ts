import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

function node(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A bare environment: no NODE_PATH, and cwd far from the checkout's node_modules.
    execFile(
      process.execPath,
      args,
      { cwd, env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

describe('npm run build → self-contained bundle and release archive', () => {
  let outside: string;
  beforeAll(() => {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'pipe' });
    outside = mkdtempSync(join(tmpdir(), 'dh-bundle-'));
    copyFileSync(join(root, 'dist/dalston-host.mjs'), join(outside, 'dalston-host.mjs'));
  }, 300_000);
  afterAll(() => rmSync(outside, { recursive: true, force: true }));

  it('runs `version` with only node, from a directory without node_modules', async () => {
    expect(existsSync(join(outside, 'node_modules'))).toBe(false);
    const r = await node([join(outside, 'dalston-host.mjs'), 'version'], outside);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root }).toString().trim();
    expect(r.stdout).toContain(`dalston-host ${version} (commit ${commit}`);
  });

  it('keeps the usage contract in the bundle (unknown command → exit 2)', async () => {
    const r = await node([join(outside, 'dalston-host.mjs'), 'nope'], outside);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usage: dalston-host/);
  });

  it('loads every command module inside the bundle (config check with a bad file → 78, not a crash)', async () => {
    for (const command of ['agent', 'bootstrap', 'status']) {
      const r = await node(
        [join(outside, 'dalston-host.mjs'), command, '--config', join(outside, 'none.json')],
        outside,
      );
      expect({ command, code: r.code }).toEqual({ command, code: 78 });
      expect(r.stderr).toMatch(/cannot read \(ENOENT\)/);
    }
  });

  it('writes dalston-host-<version>.tgz with a matching .sha256 and the host files', () => {
    const tgz = join(root, 'dist', `dalston-host-${version}.tgz`);
    const [sha, name] = readFileSync(`${tgz}.sha256`, 'utf8').trim().split(/\s+/);
    expect(name).toBe(`dalston-host-${version}.tgz`);
    expect(sha).toBe(createHash('sha256').update(readFileSync(tgz)).digest('hex'));
    const listing = execFileSync('tar', ['-tzf', tgz]).toString().split('\n');
    expect(listing).toEqual(
      expect.arrayContaining([
        './dalston-host.mjs',
        './VERSION',
        './systemd/dalston.service',
        './systemd/dalston-bootstrap.service',
      ]),
    );
    expect(listing.some((l) => l.includes('node_modules'))).toBe(false);
  });

  it('ships the LICENSE and the licenses of every bundled package (THIRD-PARTY-NOTICES.txt)', () => {
    const tgz = join(root, 'dist', `dalston-host-${version}.tgz`);
    const file = (name: string) => execFileSync('tar', ['-xzOf', tgz, `./${name}`]).toString();
    expect(file('LICENSE')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    expect(file('LICENSE')).toMatch(/^MIT License/);
    const notices = file('THIRD-PARTY-NOTICES.txt');
    // Every runtime dependency the host bundle uses, at the version installed; client-ec2 is
    // only the laptop CLI's (dalston-aws), which is not in the release.
    const { dependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const hostDeps = Object.keys(dependencies).filter((n) => n !== '@aws-sdk/client-ec2');
    expect(hostDeps.length).toBe(Object.keys(dependencies).length - 1);
    for (const name of hostDeps) {
      const installed = JSON.parse(
        readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'),
      ) as { version: string };
      expect(notices, name).toContain(`\n${name} ${installed.version}\nLicense: `);
    }
    expect(notices).not.toContain('\n@aws-sdk/client-ec2 ');
    // Transitive packages too (pino's, dockerode's), each with a declared license.
    expect(notices).toMatch(/\nsonic-boom \S+\nLicense: MIT\n/);
    expect(notices).toMatch(/\ndocker-modem \S+\nLicense: Apache-2\.0\n/);
    expect(notices).not.toContain('License: not declared');
    expect(notices).toContain('Permission is hereby granted');
  });
});
