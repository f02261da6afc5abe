import { writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Platform } from '../../../bootstrap/os-release.ts';
import { BUILDX_PIN, COMPOSE_PIN } from '../../../bootstrap/pins.ts';
import { nodeOk, packagesStep, parseBuildxVersion, planPackages } from '../../../bootstrap/steps/packages.ts';
import { ConfigError, HostError } from '../../../shared/errors.ts';
import { versionAtLeast } from '../../../shared/version-compare.ts';
import { fakeContext, fakeHost, ok, when } from './fakes.ts';

const al: Platform = { family: 'al2023', name: 'Amazon Linux 2023', version: '2023' };
const ubuntu: Platform = { family: 'ubuntu', name: 'Ubuntu 24.04', version: '24.04', codename: 'noble' };
const debian: Platform = { family: 'debian', name: 'Debian 12', version: '12', codename: 'bookworm' };
const docker = {
  composeVersion: COMPOSE_PIN.version,
  composeMinVersion: '2.20.0',
  composeSha256: {},
  buildxVersion: BUILDX_PIN.version,
  buildxMinVersion: '0.17.0',
  buildxSha256: {},
};
const bare = {
  docker: false,
  compose: undefined,
  pluginBinary: false,
  debianComposePackage: undefined,
  // These cases are about Compose; buildx has its own below.
  buildx: 'v0.17.1',
  arch: 'x86_64',
};

describe('package plan', () => {
  it('AL2023: dnf docker + the pinned compose binary with its SHA-256', () => {
    expect(planPackages(al, bare, docker)).toEqual([
      { kind: 'dnf', packages: ['docker'] },
      {
        kind: 'compose-binary',
        version: '2.29.7',
        arch: 'x86_64',
        sha256: '383ce6698cd5d5bbf958d2c8489ed75094e34a77d340404d9f32c4ae9e12baf0',
        url: 'https://github.com/docker/compose/releases/download/v2.29.7/docker-compose-linux-x86_64',
      },
    ]);
    expect(planPackages(al, { ...bare, arch: 'aarch64' }, docker)[1]).toMatchObject({
      sha256: COMPOSE_PIN.sha256.aarch64,
    });
  });
  it('AL2023: refuses an unpinned compose version (78 naming docker.composeSha256.<arch>)', () => {
    let err: unknown;
    try {
      planPackages(al, bare, { ...docker, composeVersion: '2.30.0' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe('docker.composeSha256.x86_64');
    expect((err as ConfigError).exitCode).toBe(78);
    const sha = 'a'.repeat(64);
    const withOverride = planPackages(al, bare, {
      ...docker,
      composeVersion: '2.30.0',
      composeSha256: { x86_64: sha },
    });
    expect(withOverride[1]).toMatchObject({ sha256: sha, version: '2.30.0' });
  });
  it('satisfied hosts need nothing; old compose is replaced', () => {
    const fine = { ...bare, docker: true, compose: '2.29.7' };
    expect(planPackages(al, fine, docker)).toEqual([]);
    expect(planPackages(ubuntu, fine, docker)).toEqual([]);
    expect(planPackages(debian, fine, docker)).toEqual([]);
    expect(planPackages(al, { ...fine, compose: '2.12.0' }, docker).map((a) => a.kind)).toEqual([
      'compose-binary',
    ]);
  });
  it('Ubuntu: distro docker.io + docker-compose-v2, and never a second compose source', () => {
    expect(planPackages(ubuntu, bare, docker)).toEqual([
      { kind: 'apt', packages: ['docker.io', 'docker-compose-v2'] },
    ]);
    expect(() => planPackages(ubuntu, { ...bare, pluginBinary: true }, docker)).toThrow(
      /only one Compose source/,
    );
  });
  it('Debian 12: docker.io, compose v2 only from a repo that has it, else a clear error', () => {
    expect(planPackages(debian, { ...bare, debianComposePackage: 'docker-compose-plugin' }, docker)).toEqual([
      { kind: 'apt', packages: ['docker.io', 'docker-compose-plugin'] },
    ]);
    expect(() => planPackages(debian, bare, docker)).toThrow(/has no Compose v2 package/);
  });
  it('compares versions', () => {
    expect(versionAtLeast('v2.29.7', '2.20.0')).toBe(true);
    expect(versionAtLeast('2.26.1+ds1-0ubuntu1~24.04.1', '2.20.0')).toBe(true);
    expect(versionAtLeast('2.19.9', '2.20.0')).toBe(false);
    expect(versionAtLeast('', '2.20.0')).toBe(false);
    expect(nodeOk('20.20.2')).toBe(true);
    expect(nodeOk('18.19.0')).toBe(false);
  });
});

describe('packages step (fake shell, --root temp dir)', () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  const osRelease = async (r: string, text: string) => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(r, 'etc'), { recursive: true });
    await writeFile(join(r, 'etc/os-release'), text);
  };

  it('Ubuntu: apt waits for the dpkg lock, non-interactive', async () => {
    root = await mkdtemp(join(tmpdir(), 'dh-pk-'));
    await osRelease(root, 'ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n');
    const ctx = fakeContext({}, { root });
    let installed = false;
    ctx.shell.on((c) => {
      if (c.cmd !== 'apt-get' || !c.args.includes('install')) return undefined;
      installed = true;
      return ok();
    });
    ctx.shell.on(when('docker --version', { exitCode: 127 }));
    ctx.shell.on((c) =>
      c.cmd === 'docker' && c.args[0] === 'compose'
        ? installed
          ? ok('2.26.1\n')
          : { exitCode: 1 }
        : undefined,
    );
    ctx.shell.on(when('docker buildx version', ok('github.com/docker/buildx 0.20.1 0.20.1-0ubuntu1\n')));
    ctx.shell.on(
      when('apt-cache show --no-all-versions docker-buildx', ok('Version: 0.20.1-0ubuntu1~24.04.2\n')),
    );
    ctx.shell.on(when('uname -m', ok('x86_64\n')));
    const out = await packagesStep.run(ctx);
    expect(out.result).toBe('done');
    const apt = ctx.shell.calls.filter((c) => c.cmd === 'apt-get');
    expect(apt.map((c) => c.args.join(' '))).toEqual([
      '-o DPkg::Lock::Timeout=300 update',
      '-o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker.io docker-compose-v2 docker-buildx',
    ]);
    expect(apt[1]!.opts?.env).toEqual({ DEBIAN_FRONTEND: 'noninteractive' });
    expect(out.detail).toContain('systemd is not running');
  });

  it('AL2023: a download whose SHA-256 does not match is refused and never made executable', async () => {
    root = await mkdtemp(join(tmpdir(), 'dh-pk-'));
    await osRelease(root, 'ID="amzn"\nVERSION_ID="2023"\n');
    const sha = 'b'.repeat(64);
    const ctx = fakeContext(
      { docker: { composeSha256: { x86_64: sha } } },
      { root, host: fakeHost({ systemdRunning: () => true }) },
    );
    ctx.shell.on(when('docker --version', ok('Docker version 25\n')));
    ctx.shell.on(when('docker compose', { exitCode: 1 }));
    ctx.shell.on(when('docker buildx version', ok('github.com/docker/buildx v0.17.1 abc\n')));
    ctx.shell.on(when('uname -m', ok('x86_64\n')));
    ctx.shell.on((c) => {
      if (c.cmd !== 'curl') return undefined;
      const out = c.args[c.args.indexOf('-o') + 1]!;
      writeFileSync(out, 'not compose'); // a tampered download
      return ok();
    });
    const err = await packagesStep.run(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as Error).message).toMatch(
      /has SHA-256 [0-9a-f]{64}, expected b{64}: refusing to install it/,
    );
    const dir = join(root, 'usr/local/lib/docker/cli-plugins');
    expect(await readdir(dir)).toEqual([]);
    const curl = ctx.shell.calls.find((c) => c.cmd === 'curl')!;
    expect(curl.args.at(-1)).toBe(
      'https://github.com/docker/compose/releases/download/v2.29.7/docker-compose-linux-x86_64',
    );
  });

  it('AL2023: a matching download is installed 0755', async () => {
    root = await mkdtemp(join(tmpdir(), 'dh-pk-'));
    await osRelease(root, 'ID="amzn"\nVERSION_ID="2023"\n');
    const { createHash } = await import('node:crypto');
    const body = 'pretend compose binary';
    const sha = createHash('sha256').update(body).digest('hex');
    const ctx = fakeContext({ docker: { composeSha256: { x86_64: sha } } }, { root });
    let installed = false;
    ctx.shell.on(when('docker --version', ok('Docker version 25\n')));
    ctx.shell.on(when('docker buildx version', ok('github.com/docker/buildx v0.17.1 abc\n')));
    ctx.shell.on((c) =>
      c.cmd === 'docker' && c.args[0] === 'compose'
        ? installed
          ? ok('v2.29.7\n')
          : { exitCode: 1 }
        : undefined,
    );
    ctx.shell.on(when('uname -m', ok('x86_64\n')));
    ctx.shell.on((c) => {
      if (c.cmd !== 'curl') return undefined;
      writeFileSync(c.args[c.args.indexOf('-o') + 1]!, body);
      installed = true;
      return ok();
    });
    const out = await packagesStep.run(ctx);
    expect(out.result).toBe('done');
    const st = await stat(join(root, 'usr/local/lib/docker/cli-plugins/docker-compose'));
    expect(st.mode & 0o777).toBe(0o755);
  });

  it('unsupported OS fails naming it', async () => {
    root = await mkdtemp(join(tmpdir(), 'dh-pk-'));
    await osRelease(root, 'ID=centos\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7"\n');
    const err = await packagesStep.run(fakeContext({}, { root })).catch((e: unknown) => e);
    expect((err as Error).message).toContain('unsupported OS for the packages step: CentOS Linux 7');
  });
});

describe('buildx (compose build needs ≥ buildxMinVersion)', () => {
  const fine = { ...bare, docker: true, compose: '2.29.7' };
  const old = { ...fine, buildx: 'v0.0.0+unknown' }; // AL2023's packaged buildx reports no version
  const amd64 = 'https://github.com/docker/buildx/releases/download/v0.17.1/buildx-v0.17.1.linux-amd64';

  it('compares the version docker buildx reports', () => {
    expect(parseBuildxVersion({ exitCode: 0, stdout: 'github.com/docker/buildx v0.17.1 257815a\n' })).toBe(
      'v0.17.1',
    );
    expect(parseBuildxVersion({ exitCode: 0, stdout: 'github.com/docker/buildx 0.13.1+ds1-3 \n' })).toBe(
      '0.13.1+ds1-3',
    );
    expect(parseBuildxVersion({ exitCode: 1, stdout: '' })).toBeUndefined();
    expect(versionAtLeast('v0.12.1', '0.17.0')).toBe(false);
    expect(versionAtLeast('v0.0.0+unknown', '0.17.0')).toBe(false);
    expect(planPackages(al, { ...fine, buildx: 'v0.17.0' }, docker)).toEqual([]);
    expect(planPackages(al, { ...fine, buildx: 'v0.16.2' }, docker).map((a) => a.kind)).toEqual([
      'buildx-binary',
    ]);
  });

  it('AL2023: the pinned release for uname -m, with its SHA-256 (x86_64 → amd64, aarch64 → arm64)', () => {
    expect(planPackages(al, old, docker)).toEqual([
      {
        kind: 'buildx-binary',
        version: '0.17.1',
        arch: 'x86_64',
        sha256: BUILDX_PIN.sha256.x86_64,
        url: amd64,
      },
    ]);
    expect(planPackages(al, { ...old, arch: 'arm64' }, docker)).toEqual([
      {
        kind: 'buildx-binary',
        version: '0.17.1',
        arch: 'aarch64',
        sha256: 'de05dccd47932eb9fd6e63781ab29d2b0b2c834bbdd19b51d7ea452b1fe378d3',
        url: 'https://github.com/docker/buildx/releases/download/v0.17.1/buildx-v0.17.1.linux-arm64',
      },
    ]);
    expect(() => planPackages(al, { ...old, arch: 'riscv64' }, docker)).toThrow(
      'no buildx release binary for architecture riscv64',
    );
  });

  it('refuses an unpinned buildx version (78 naming docker.buildxSha256.<arch>)', () => {
    const err = (() => {
      try {
        planPackages(al, { ...old, arch: 'aarch64' }, { ...docker, buildxVersion: '0.30.0' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe('docker.buildxSha256.aarch64');
    expect((err as ConfigError).exitCode).toBe(78);
    const sha = 'c'.repeat(64);
    expect(
      planPackages(al, old, { ...docker, buildxVersion: '0.30.0', buildxSha256: { x86_64: sha } })[0],
    ).toMatchObject({ sha256: sha, url: expect.stringContaining('/v0.30.0/buildx-v0.30.0.linux-amd64') });
  });

  it('Ubuntu/Debian: apt docker-buildx only when its candidate is recent enough and our binary is absent', () => {
    const withCompose = { ...old, debianComposePackage: 'docker-compose-plugin' };
    expect(planPackages(ubuntu, { ...old, distroBuildx: '0.20.1-0ubuntu1~24.04.2' }, docker)).toEqual([
      { kind: 'apt', packages: ['docker-buildx'] },
    ]);
    expect(
      planPackages(debian, { ...withCompose, compose: undefined, distroBuildx: '0.19.3' }, docker),
    ).toEqual([{ kind: 'apt', packages: ['docker-compose-plugin', 'docker-buildx'] }]);
    // Too old in the distro (Debian 13 has 0.13.1): the pinned binary, never the old package as well.
    expect(planPackages(debian, { ...old, distroBuildx: '0.13.1+ds1-3' }, docker)).toEqual([
      {
        kind: 'buildx-binary',
        version: '0.17.1',
        arch: 'x86_64',
        sha256: BUILDX_PIN.sha256.x86_64,
        url: amd64,
      },
    ]);
    expect(planPackages(ubuntu, { ...old, distroBuildx: undefined }, docker).map((a) => a.kind)).toEqual([
      'buildx-binary',
    ]);
    // Our binary already chosen (and shadowing /usr/libexec): stay with that one source.
    expect(
      planPackages(ubuntu, { ...old, buildxPluginBinary: true, distroBuildx: '0.20.1' }, docker).map(
        (a) => a.kind,
      ),
    ).toEqual(['buildx-binary']);
    expect(planPackages(ubuntu, { ...fine, distroBuildx: '0.13.1' }, docker)).toEqual([]);
  });
});

describe('buildx in the packages step (fake shell, --root temp dir)', () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  const al2023Root = async () => {
    const r = await mkdtemp(join(tmpdir(), 'dh-bx-'));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(r, 'etc'), { recursive: true });
    await writeFile(join(r, 'etc/os-release'), 'ID="amzn"\nVERSION_ID="2023"\n');
    return r;
  };

  it('a download whose SHA-256 does not match is refused before it is made executable or moved', async () => {
    root = await al2023Root();
    const sha = 'd'.repeat(64);
    const ctx = fakeContext({ docker: { buildxSha256: { aarch64: sha } } }, { root });
    ctx.shell.on(when('docker --version', ok('Docker version 25\n')));
    ctx.shell.on(when('docker compose version', ok('2.29.7\n')));
    ctx.shell.on(when('docker buildx version', ok('github.com/docker/buildx v0.12.1 abc\n')));
    ctx.shell.on(when('uname -m', ok('aarch64\n')));
    ctx.shell.on((c) => {
      if (c.cmd !== 'curl') return undefined;
      const out = c.args[c.args.indexOf('-o') + 1]!;
      expect(out).toBe(
        join(root!, 'usr/local/lib/docker/cli-plugins', `.docker-buildx.download-${process.pid}`),
      );
      writeFileSync(out, 'not buildx'); // a tampered download
      return ok();
    });
    const err = await packagesStep.run(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as Error).message).toMatch(
      /^buildx 0\.17\.1 \(aarch64\) from https:\/\/github\.com\/docker\/buildx\/releases\/download\/v0\.17\.1\/buildx-v0\.17\.1\.linux-arm64 has SHA-256 [0-9a-f]{64}, expected d{64}: refusing to install it$/,
    );
    expect(await readdir(join(root, 'usr/local/lib/docker/cli-plugins'))).toEqual([]);
    // Nothing ran after the refusal: no verification of a buildx that was never installed.
    expect(ctx.shell.lines().at(-1)).toMatch(/^curl /);
  });

  it('a matching download is installed 0755 as docker-buildx, then docker buildx version is checked', async () => {
    root = await al2023Root();
    const { createHash } = await import('node:crypto');
    const body = 'pretend buildx binary';
    const sha = createHash('sha256').update(body).digest('hex');
    const ctx = fakeContext({ docker: { buildxSha256: { x86_64: sha } } }, { root });
    let installed = false;
    ctx.shell.on(when('docker --version', ok('Docker version 25\n')));
    ctx.shell.on(when('docker compose version', ok('2.29.7\n')));
    ctx.shell.on((c) =>
      c.cmd === 'docker' && c.args[0] === 'buildx'
        ? ok(`github.com/docker/buildx ${installed ? 'v0.17.1 257815a' : 'v0.0.0+unknown'}\n`)
        : undefined,
    );
    ctx.shell.on(when('uname -m', ok('x86_64\n')));
    ctx.shell.on((c) => {
      if (c.cmd !== 'curl') return undefined;
      writeFileSync(c.args[c.args.indexOf('-o') + 1]!, body);
      installed = true;
      return ok();
    });
    const out = await packagesStep.run(ctx);
    expect(out.result).toBe('done');
    expect(out.detail).toContain('download buildx 0.17.1 for x86_64');
    expect(out.detail).toContain('buildx v0.17.1');
    const st = await stat(join(root, 'usr/local/lib/docker/cli-plugins/docker-buildx'));
    expect(st.mode & 0o777).toBe(0o755);
    expect(ctx.shell.lines().filter((l) => l.startsWith('curl'))).toEqual([
      `curl -fsSL --retry 3 -o ${join(root, 'usr/local/lib/docker/cli-plugins', `.docker-buildx.download-${process.pid}`)} https://github.com/docker/buildx/releases/download/v0.17.1/buildx-v0.17.1.linux-amd64`,
    ]);
    expect(ctx.shell.lines().at(-1)).toBe('docker buildx version');
  });

  it('fails when, after installing, docker buildx is still too old (something shadows ours)', async () => {
    root = await al2023Root();
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update('b').digest('hex');
    const ctx = fakeContext({ docker: { buildxSha256: { x86_64: sha } } }, { root });
    ctx.shell.on(when('docker --version', ok('Docker version 25\n')));
    ctx.shell.on(when('docker compose version', ok('2.29.7\n')));
    ctx.shell.on(when('docker buildx version', ok('github.com/docker/buildx v0.12.1 abc\n')));
    ctx.shell.on(when('uname -m', ok('x86_64\n')));
    ctx.shell.on((c) => {
      if (c.cmd !== 'curl') return undefined;
      writeFileSync(c.args[c.args.indexOf('-o') + 1]!, 'b');
      return ok();
    });
    await expect(packagesStep.run(ctx)).rejects.toThrow(/docker buildx version is "v0.12.1", need ≥ 0.17.0/);
  });

  it('dry run plans the buildx download without touching anything', async () => {
    root = await al2023Root();
    const ctx = fakeContext({}, { root, dryRun: true });
    ctx.shell.on(when('docker --version', ok('Docker version 25\n')));
    ctx.shell.on(when('docker compose version', ok('2.29.7\n')));
    ctx.shell.on(
      when('docker buildx version', { exitCode: 1, stderr: "docker: 'buildx' is not a docker command." }),
    );
    ctx.shell.on(when('uname -m', ok('x86_64\n')));
    const out = await packagesStep.run(ctx);
    expect(out.result).toBe('planned');
    expect(out.changes).toEqual([
      `download buildx 0.17.1 for x86_64, verify SHA-256 ${BUILDX_PIN.sha256.x86_64}, install 0755 to ${join(root, 'usr/local/lib/docker/cli-plugins')}/docker-buildx`,
    ]);
    expect(ctx.shell.lines().some((l) => l.startsWith('curl'))).toBe(false);
  });
});
