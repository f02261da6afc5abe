import { lstat, mkdir, mkdtemp, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { composeEnvFor } from '../../../bootstrap/steps/desired.ts';
import { dataPaths } from '../../../shared/config/data-paths.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { parseDesiredState } from '../../../shared/desired/desired-state.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { runChecked } from '../../../shared/shell.ts';
import { requireCommand } from '../../harness/require.ts';
import {
  baseVars,
  createWorkspace,
  type Rendered,
  repoRoot,
  sha256,
  shell,
  type Workspace,
} from './host-config-workspace.ts';
import { removeSandbox, runUserData, type SandboxRun } from './user-data-sandbox.ts';

// Real terraform (no provider, no network), real bash/shellcheck, and the rendered
// user-data run for real in a sandbox directory.

let ws: Workspace;
const al2023: Vars = { ...baseVars, tailscale_auth_key_parameter: '/dalston/tailscale-auth-key' };
type Vars = Record<string, string | number | boolean | string[] | null>;
let rendered: Rendered;
const runs: SandboxRun[] = [];

beforeAll(async () => {
  requireCommand('terraform', 'install Terraform >= 1.7 (https://developer.hashicorp.com/terraform/install)');
  requireCommand('shellcheck', 'apt-get install -y shellcheck');
  requireCommand('bash', 'apt-get install -y bash');
  requireCommand('xz', 'apt-get install -y xz-utils');
  requireCommand('systemd-analyze', 'apt-get install -y systemd');
  ws = await createWorkspace();
  rendered = await ws.render(al2023, 'al2023');
});

afterEach(async () => {
  await Promise.all(runs.splice(0).map(removeSandbox));
});

afterAll(async () => {
  await ws?.cleanup();
});

describe('terraform', () => {
  it('every .tf file is formatted (terraform fmt -check -recursive)', async () => {
    const r = await ws.tf([
      'fmt',
      '-check',
      '-recursive',
      '-no-color',
      path.join(repoRoot, 'infra/terraform'),
    ]);
    expect(r.stdout.trim(), 'files terraform fmt would rewrite').toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('terraform test passes on the provider-free host-config module', async () => {
    const r = await ws.tf(['test', '-no-color']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const m = /(\d+) passed, (\d+) failed/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(25);
    expect(Number(m![2])).toBe(0);
  });

  it('a plan with a bad variable fails and names the variable', async () => {
    const r = await ws.tf([
      'plan',
      '-no-color',
      '-input=false',
      ...Object.entries({ ...baseVars, dalston_ref: 'main' }).map(
        ([k, v]) => `-var=${k}=${Array.isArray(v) ? JSON.stringify(v) : v}`,
      ),
    ]);
    expect(r.exitCode).not.toBe(0);
    // Terraform wraps long messages: compare with whitespace collapsed.
    const err = r.stderr.replace(/\s+/g, ' ');
    expect(err).toContain('var.dalston_ref');
    expect(err).toContain('not a branch');
  });

  it('a plan with a bundle that differs from its .sha256 file fails and says to rebuild', async () => {
    const r = await ws.tf([
      'plan',
      '-no-color',
      '-input=false',
      ...Object.entries({ ...baseVars, release_version: '0.1.1' }).map(
        ([k, v]) => `-var=${k}=${Array.isArray(v) ? JSON.stringify(v) : v}`,
      ),
    ]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.replace(/\s+/g, ' ')).toContain('does not match its .sha256 file');
  });
});

describe('host.json rendered by terraform', () => {
  it('validates against the project schema (parseConfig) with the values Terraform was given', async () => {
    const cfg = parseConfig(JSON.parse(rendered.hostJson), 'terraform host.json');
    expect(cfg.s3).toMatchObject({ bucket: 'dalston-artifacts-123456789012', region: 'eu-west-2' });
    expect(cfg.volume.id).toBe('vol-0123456789abcdef0');
    expect(cfg.compose.files).toEqual([
      'docker-compose.yml',
      'infra/docker/docker-compose.aws.yml',
      '/opt/dalston-host/current/compose/docker-compose.aws.yml',
    ]);
    expect(cfg.compose.services).toEqual(
      JSON.parse(await readFile(path.join(repoRoot, 'compose/services.cpu.json'), 'utf8')),
    );
    expect(cfg.compose.envFiles).toEqual(['/etc/dalston/compose.env']);
    expect(cfg.dalston).toEqual({
      repo: 'https://github.com/ssarunic/dalston.git',
      ref: 'v1.2.3',
      imageTag: '1.2.3',
      // A schema default, not something Terraform states (see the next test).
      upgradeHealthySeconds: expect.any(Number),
    });
    expect(cfg.tailscale).toEqual({ authKeyParameter: '/dalston/tailscale-auth-key', hostname: 'dalston' });
  });

  it('states no schema default, so the paths follow dataDir: the compose files are where the dalston step checks Dalston out', () => {
    const raw = JSON.parse(rendered.hostJson) as Record<string, Record<string, unknown>>;
    expect(Object.keys(raw).sort()).toEqual(['compose', 'dalston', 's3', 'tailscale', 'volume']);
    expect(Object.keys(raw.compose!).sort()).toEqual(['envFiles', 'services']);
    expect(Object.keys(raw.dalston!).sort()).toEqual(['imageTag', 'ref']);
    expect(raw.tailscale).toEqual({ authKeyParameter: '/dalston/tailscale-auth-key' });

    const cfg = parseConfig(raw, 'terraform host.json');
    const paths = dataPaths(cfg.dataDir);
    expect(cfg.dataDir).toBe('/data');
    expect(cfg.compose.workingDir).toBe('/data/dalston/current');
    expect(paths.dalstonCurrent).toBe(cfg.compose.workingDir);
    expect(paths.dalstonCheckouts).toBe('/data/dalston');
    expect(Object.values(paths.subdirs).every((d) => d.startsWith('/data/'))).toBe(true);
    // The same file on a host with another dataDir moves every derived path with it.
    const moved = parseConfig({ ...raw, dataDir: '/srv/ebs' }, 'terraform host.json + dataDir');
    expect(moved.compose.workingDir).toBe(dataPaths('/srv/ebs').dalstonCurrent);
    expect(moved.compose.workingDir).toBe('/srv/ebs/dalston/current');
  });

  it('names the admin API key parameter when given (apiKey.parameter), and leaves the block out otherwise', async () => {
    expect(
      parseConfig(JSON.parse(rendered.hostJson), 'terraform host.json').apiKey.parameter,
    ).toBeUndefined();
    const r = await ws.render({ ...baseVars, api_key_parameter: '/dalston/dev/api-key' }, 'api-key');
    expect(JSON.parse(r.hostJson).apiKey).toEqual({ parameter: '/dalston/dev/api-key' });
    expect(parseConfig(JSON.parse(r.hostJson), 'terraform host.json').apiKey.parameter).toBe(
      '/dalston/dev/api-key',
    );
  });

  it('validates without a Tailscale parameter too (the key is left out, not null)', async () => {
    const r = await ws.render({ ...baseVars }, 'no-tailscale');
    const cfg = parseConfig(JSON.parse(r.hostJson), 'terraform host.json');
    expect(cfg.tailscale.authKeyParameter).toBeUndefined();
  });

  it('idle_stop_after_minutes: the default (15) is the schema default, so it is left out; other values land in idle.stopAfterMinutes', async () => {
    // Default: no idle block, and the schema fills in the same 15 Terraform documents.
    expect(JSON.parse(rendered.hostJson)).not.toHaveProperty('idle');
    expect(parseConfig(JSON.parse(rendered.hostJson), 'terraform host.json').idle.stopAfterMinutes).toBe(15);
    const short = await ws.render({ ...al2023, idle_stop_after_minutes: 20 }, 'idle-20');
    expect(JSON.parse(short.hostJson).idle).toEqual({ stopAfterMinutes: 20 });
    expect(parseConfig(JSON.parse(short.hostJson), 'terraform host.json').idle.stopAfterMinutes).toBe(20);
    const off = await ws.render({ ...al2023, idle_stop_after_minutes: 0 }, 'idle-off');
    expect(parseConfig(JSON.parse(off.hostJson), 'terraform host.json').idle.stopAfterMinutes).toBe(0);
  });

  it('the schema would reject a drifted key, so the check above is meaningful', () => {
    const raw = JSON.parse(rendered.hostJson) as Record<string, Record<string, unknown>>;
    raw.s3!.bucketName = 'x';
    expect(() => parseConfig(raw, 'drifted')).toThrow(ConfigError);
    expect(() => parseConfig(raw, 'drifted')).toThrow(/s3\.bucketName: unknown key/);
  });
});

describe('user-data rendered by terraform', () => {
  const variants: [string, Vars][] = [
    ['al2023', {}],
    ['ubuntu', { os_family: 'ubuntu' }],
    ['vpc', { publish_gateway_on_vpc: true }],
  ];

  for (const [name, extra] of variants) {
    it(`${name}: passes bash -n and shellcheck`, async () => {
      const r = name === 'al2023' ? rendered : await ws.render({ ...al2023, ...extra }, `lint-${name}`);
      const dir = await mkdtemp(path.join(ws.dir, 'lint-'));
      const file = path.join(dir, 'user-data.sh');
      await writeFile(file, r.userData);
      await runChecked(shell, 'bash', ['-n', file]);
      const sc = await shell.run('shellcheck', ['--shell=bash', '--severity=style', file]);
      expect(sc.stdout + sc.stderr, 'shellcheck findings').toBe('');
      expect(sc.exitCode).toBe(0);
      expect(r.userData).toMatch(/^#!\/bin\/bash\n/);
      expect(r.userData).toContain('set -euo pipefail');
      expect(Buffer.byteLength(r.userData)).toBeLessThan(16_384);
    });
  }

  it('carries no host setting and no release: only where the desired state is', () => {
    expect(rendered.userData).toContain('DESIRED_STATE="s3://$BUCKET/config/host.json"');
    expect(rendered.userData).toContain("BUCKET='dalston-artifacts-123456789012'");
    for (const setting of [
      'vol-0123456789abcdef0',
      'v1.2.3',
      "'1.2.3'",
      'stt-prepare',
      '/dalston/tailscale-auth-key',
      'DALSTON_HOST_JSON',
      'DALSTON_IMAGE_TAG',
      'DALSTON_REF',
      rendered.releaseSha256,
      'dalston-host-0.1.0.tgz',
    ]) {
      expect(rendered.userData, setting).not.toContain(setting);
    }
  });

  it('a new Dalston version or volume leaves the user-data byte-for-byte the same', async () => {
    const next = await ws.render(
      {
        ...al2023,
        dalston_ref: 'v1.2.4',
        dalston_image_tag: '1.2.4',
        data_volume_id: 'vol-0fedcba9876543210',
      },
      'next',
    );
    expect(next.userData).toBe(rendered.userData);
    expect(next.desiredState).not.toBe(rendered.desiredState);
  });
});

describe('the desired state rendered by terraform', () => {
  it("parses with the host's own parseDesiredState: the release terraform uploads, host.json, no secret", async () => {
    const parsed = parseDesiredState(rendered.desiredState);
    if (parsed.kind !== 'ok') throw new Error(parsed.reason);
    const bytes = await readFile(ws.bundle.good);
    expect(rendered.releaseSha256).toBe(sha256(bytes));
    expect(parsed.state.document).toEqual({
      schemaVersion: 1,
      release: { version: '0.1.0', key: 'releases/dalston-host-0.1.0.tgz', sha256: sha256(bytes) },
      host: JSON.parse(rendered.hostJson),
      publishedBy: 'terraform',
    });
    expect(parsed.state.host.dalston).toMatchObject({ ref: 'v1.2.3', imageTag: '1.2.3' });
    expect(parsed.state.host.volume.id).toBe('vol-0123456789abcdef0');
    // The Tailscale key stays in SSM: only its parameter's name is here.
    expect(rendered.desiredState).not.toMatch(/tskey-|authKey"\s*:/);
    // The compose env the bootstrap derives from it is the one Terraform documents.
    expect(composeEnvFor(JSON.parse(rendered.hostJson), '')).toBe(rendered.composeEnv);
  });
});

const DESIRED_KEY = 'dalston-artifacts-123456789012/config/host.json';
/** The S3 objects terraform publishes: the desired state (as rendered, or `doc`) and the release. */
async function published(doc: string = rendered.desiredState): Promise<Record<string, string>> {
  const file = await mkdtemp(path.join(ws.dir, 'desired-')).then((d) => path.join(d, 'host.json'));
  await writeFile(file, doc);
  return {
    [DESIRED_KEY]: file,
    'dalston-artifacts-123456789012/releases/dalston-host-0.1.0.tgz': ws.bundle.good,
  };
}

describe('user-data sandbox run (AL2023)', () => {
  it('installs Node, reads the desired state, downloads, verifies, unpacks, links current, then bootstraps from the desired state — in that order', async () => {
    const run = await runUserData(rendered.userData, {
      s3: await published(),
      awsPreinstalled: true,
    });
    runs.push(run);
    expect(run.exitCode, run.log + run.stderr).toBe(0);

    const tools = run.calls.map((c) => c.split(' ')[0]);
    expect(tools).toEqual(['dnf', 'aws', 'node', 'aws', 'tar', 'node']);
    expect(run.calls[0]).toBe('dnf install -y nodejs22');
    expect(run.calls[1]).toMatch(
      /^aws s3 cp --only-show-errors --region eu-west-2 s3:\/\/dalston-artifacts-123456789012\/config\/host\.json \S+\/desired\.json$/,
    );
    // Node (installed first) reads the release out of the JSON.
    expect(run.calls[2]).toBe('node -e');
    expect(run.calls[3]).toMatch(
      /^aws s3 cp --only-show-errors --region eu-west-2 s3:\/\/dalston-artifacts-123456789012\/releases\/dalston-host-0\.1\.0\.tgz \S+\/release\.tgz$/,
    );
    expect(run.calls[5]).toBe(
      `node ${run.root}/opt/dalston-host/current/dalston-host.mjs bootstrap --config ${run.root}/etc/dalston/host.json --desired-state s3://dalston-artifacts-123456789012/config/host.json --region eu-west-2`,
    );

    // /usr/bin/node exists (the systemd units call it) and points at the namespaced binary.
    expect(await readlink(path.join(run.root, 'usr/bin/node'))).toBe('node-22');
    expect(await readlink(path.join(run.root, 'opt/dalston-host/current'))).toBe('0.1.0');
    for (const f of [
      'dalston-host.mjs',
      'VERSION',
      'systemd/dalston.service',
      'compose/docker-compose.aws.yml',
    ]) {
      await stat(path.join(run.root, 'opt/dalston-host/0.1.0', f));
    }
    await expect(stat(path.join(run.root, 'opt/dalston-host/.staging'))).rejects.toThrow();
    await expect(stat(path.join(run.root, 'opt/dalston-host/current.new'))).rejects.toThrow();

    // host.json and compose.env are the bootstrap's (its desired step): not written here.
    await expect(lstat(path.join(run.root, 'etc/dalston/host.json'))).rejects.toThrow();
    await expect(lstat(path.join(run.root, 'etc/dalston/compose.env'))).rejects.toThrow();

    expect(run.log).toContain('dalston-host user-data start');
    expect(run.log).toContain(
      'downloading s3://dalston-artifacts-123456789012/releases/dalston-host-0.1.0.tgz (release 0.1.0)',
    );
    expect(run.log).toContain('dalston-host 0.1.0 user-data done');
    // Everything, the bootstrap's own output included, reached the serial console too, in full.
    expect(run.log).toContain('bootstrap stand-in: a line of output');
    expect(run.console).toBe(run.log);
  });

  it('before any download, installs a unit that runs it again at boot until the bootstrap has its own', async () => {
    const run = await runUserData(rendered.userData, { awsFails: true, awsPreinstalled: true });
    runs.push(run);
    expect(run.exitCode).not.toBe(0);
    const units = path.join(run.root, 'etc/systemd/system');
    const unit = await readFile(path.join(units, 'dalston-user-data.service'), 'utf8');
    expect(unit).toMatch(/^ConditionPathExists=!\/etc\/systemd\/system\/dalston-bootstrap\.service$/m);
    expect(unit).toMatch(/^ExecStart=\/bin\/bash \/var\/lib\/dalston\/user-data\.sh$/m);
    expect(await readlink(path.join(units, 'multi-user.target.wants/dalston-user-data.service'))).toBe(
      '/etc/systemd/system/dalston-user-data.service',
    );
    // The copy it runs is this very script, private to root.
    const copy = path.join(run.root, 'var/lib/dalston/user-data.sh');
    expect(await readFile(copy, 'utf8')).toBe(rendered.userData);
    expect((await stat(copy)).mode & 0o777).toBe(0o700);
    // Valid for systemd as written.
    const dir = await mkdtemp(path.join(ws.dir, 'rerun-unit-'));
    await writeFile(path.join(dir, 'dalston-user-data.service'), unit);
    const v = await shell.run('systemd-analyze', ['verify', path.join(dir, 'dalston-user-data.service')], {
      env: { SYSTEMD_LOG_COLOR: '0' },
    });
    // verify exits 0 on some parse warnings: its output must be empty too.
    expect((v.stdout + v.stderr).trim()).toBe('');
    expect(v.exitCode).toBe(0);
    // The console saw the failure as it happened.
    expect(run.console).toContain('giving up after 5 attempts: aws s3 cp');
  });

  it('a failing bootstrap fails the script with its exit code and says where its result and retry are', async () => {
    const run = await runUserData(rendered.userData, {
      s3: await published(),
      awsPreinstalled: true,
      nodeExit: 69,
    });
    runs.push(run);
    expect(run.exitCode).toBe(69);
    expect(run.log).toContain(
      'FATAL: dalston-host bootstrap failed (exit 69); its steps: /var/lib/dalston/bootstrap.json, also s3://dalston-artifacts-123456789012/status/<instance-id>/bootstrap.json (`dalston-aws status`). Every boot runs it again until one run succeeds.',
    );
    expect(run.log).not.toContain('user-data done');
    expect(run.console).toBe(run.log);
  });

  it('without a console it still logs everything to its file', async () => {
    const run = await runUserData(rendered.userData, {
      s3: await published(),
      awsPreinstalled: true,
      noConsole: true,
    });
    runs.push(run);
    expect(run.exitCode, run.log + run.stderr).toBe(0);
    expect(run.console).toBe('');
    expect(run.log).toContain('dalston-host 0.1.0 user-data done');
  });

  it('a wrong SHA-256 stops it before anything is unpacked, linked, written or run', async () => {
    const s3 = await published();
    s3['dalston-artifacts-123456789012/releases/dalston-host-0.1.0.tgz'] = ws.bundle.tampered;
    const run = await runUserData(rendered.userData, { s3, awsPreinstalled: true });
    runs.push(run);
    expect(run.exitCode).not.toBe(0);
    expect(run.log).toMatch(
      /FATAL: release SHA-256 mismatch \(expected [0-9a-f]{64}, got [0-9a-f]{64}\): refusing to unpack/,
    );
    expect(run.calls.map((c) => c.split(' ')[0])).toEqual(['dnf', 'aws', 'node', 'aws']);
    await expect(lstat(path.join(run.root, 'opt/dalston-host/0.1.0'))).rejects.toThrow();
    await expect(lstat(path.join(run.root, 'opt/dalston-host/current'))).rejects.toThrow();
    await expect(lstat(path.join(run.root, 'etc/dalston/host.json'))).rejects.toThrow();
  });

  it('retries a failing download a bounded number of times, then fails loudly', async () => {
    const run = await runUserData(rendered.userData, { awsFails: true, awsPreinstalled: true });
    runs.push(run);
    expect(run.exitCode).not.toBe(0);
    expect(run.calls.filter((c) => c.startsWith('aws '))).toHaveLength(5);
    expect(run.log).toContain('giving up after 5 attempts: aws s3 cp');
    expect(run.calls.some((c) => c.startsWith('tar ') || c.startsWith('node '))).toBe(false);
  });

  it('a missing desired state or release object fails the same way, naming the S3 error', async () => {
    const only: Record<string, string> = { [DESIRED_KEY]: (await published())[DESIRED_KEY]! };
    for (const s3 of [{}, only]) {
      const run = await runUserData(rendered.userData, { s3, awsPreinstalled: true });
      runs.push(run);
      expect(run.exitCode).not.toBe(0);
      expect(run.log).toContain('(404)');
      await expect(lstat(path.join(run.root, 'opt/dalston-host/current'))).rejects.toThrow();
    }
  });

  it('a desired state without a valid release stops it before any release download', async () => {
    const doc = JSON.parse(rendered.desiredState);
    doc.release.sha256 = 'not-a-sha';
    const run = await runUserData(rendered.userData, {
      s3: await published(JSON.stringify(doc)),
      awsPreinstalled: true,
    });
    runs.push(run);
    expect(run.exitCode).not.toBe(0);
    expect(run.log).toContain(
      'FATAL: s3://dalston-artifacts-123456789012/config/host.json: release.sha256 is not a hex SHA-256',
    );
    expect(run.calls.map((c) => c.split(' ')[0])).toEqual(['dnf', 'aws', 'node']);
    const notJson = await runUserData(rendered.userData, { s3: await published('{'), awsPreinstalled: true });
    runs.push(notJson);
    expect(notJson.exitCode).not.toBe(0);
    expect(notJson.log).toContain('FATAL: s3://dalston-artifacts-123456789012/config/host.json is not JSON');
  });

  it('with publish_gateway_on_vpc, writes the private IP from IMDSv2 to compose.env (the bootstrap keeps the line)', async () => {
    const r = await ws.render({ ...al2023, publish_gateway_on_vpc: true }, 'vpc');
    const run = await runUserData(r.userData, {
      s3: await published(r.desiredState),
      awsPreinstalled: true,
    });
    runs.push(run);
    expect(run.exitCode, run.log).toBe(0);
    const curls = run.calls.filter((c) => c.startsWith('curl '));
    expect(curls[0]).toContain('-X PUT');
    expect(curls[1]).toContain('X-aws-ec2-metadata-token: IMDS-TOKEN');
    const env = await readFile(path.join(run.root, 'etc/dalston/compose.env'), 'utf8');
    expect(env).toBe('DALSTON_VPC_IP=10.0.1.23\n');
    // What the bootstrap's desired step then writes: its variables, the IP line kept.
    expect(composeEnvFor(JSON.parse(r.hostJson), env)).toBe(`DALSTON_VPC_IP=10.0.1.23\n${r.composeEnv}`);
  });
});

describe('user-data sandbox run (Ubuntu)', () => {
  let nodeTarball: string;
  let nodeSha: string;

  beforeAll(async () => {
    const dir = await mkdtemp(path.join(ws.dir, 'node-'));
    const top = path.join(dir, 'node-v22.12.0-linux-x64');
    await mkdir(path.join(top, 'bin'), { recursive: true });
    await writeFile(
      path.join(top, 'bin/node'),
      '#!/bin/bash\nif [ "$1" = "-e" ]; then echo "node -e" >>"$SANDBOX_LOG"; exec "$SANDBOX_REAL_NODE" "$@"; fi\necho "node $*" >>"$SANDBOX_LOG"\n',
      { mode: 0o755 },
    );
    nodeTarball = path.join(dir, 'node.tar.xz');
    await runChecked(shell, 'tar', ['-cJf', nodeTarball, '-C', dir, 'node-v22.12.0-linux-x64']);
    nodeSha = sha256(await readFile(nodeTarball));
  });

  it('installs the checksummed Node tarball and the AWS CLI snap, then runs like AL2023', async () => {
    const r = await ws.render({ ...al2023, os_family: 'ubuntu', ubuntu_node_sha256: nodeSha }, 'ubuntu-ok');
    const run = await runUserData(r.userData, { s3: await published(r.desiredState), nodeTarball });
    runs.push(run);
    expect(run.exitCode, run.log + run.stderr).toBe(0);
    expect(run.calls.map((c) => c.split(' ')[0])).toEqual([
      'curl',
      'tar',
      'snap',
      'aws',
      'node',
      'aws',
      'tar',
      'node',
    ]);
    expect(run.calls[0]).toContain('https://nodejs.org/dist/v22.12.0/node-v22.12.0-linux-x64.tar.xz');
    expect(await readlink(path.join(run.root, 'usr/bin/node'))).toBe(
      '../../opt/node-v22.12.0-linux-x64/bin/node',
    );
    await stat(path.join(run.root, 'usr/bin/node'));
    expect(run.calls.some((c) => c.startsWith('dnf'))).toBe(false);
  });

  it('refuses a Node tarball whose SHA-256 does not match the pin', async () => {
    const r = await ws.render(
      { ...al2023, os_family: 'ubuntu', ubuntu_node_sha256: 'a'.repeat(64) },
      'ubuntu-bad',
    );
    const run = await runUserData(r.userData, { s3: await published(r.desiredState), nodeTarball });
    runs.push(run);
    expect(run.exitCode).not.toBe(0);
    expect(run.log).toContain('FATAL: Node.js tarball SHA-256 mismatch');
    expect(run.calls.map((c) => c.split(' ')[0])).toEqual(['curl']);
    await expect(lstat(path.join(run.root, 'opt/node-v22.12.0-linux-x64'))).rejects.toThrow();
    await expect(lstat(path.join(run.root, 'usr/bin/node'))).rejects.toThrow();
  });
});
