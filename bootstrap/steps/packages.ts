import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, HostError } from '../../shared/errors.ts';
import { runChecked } from '../../shared/shell.ts';
import { versionAtLeast } from '../../shared/version-compare.ts';
import type { BootstrapContext } from '../context.ts';
import type { Platform } from '../os-release.ts';
import { rooted, SystemPath } from '../paths.ts';
import { BUILDX_PIN, buildxDownloadUrl, COMPOSE_PIN, composeArch, composeDownloadUrl } from '../pins.ts';
import { withRetry } from '../retry.ts';
import { requirePlatform } from './os.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export const APT_LOCK = ['-o', 'DPkg::Lock::Timeout=300'];
const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' };

export interface PackagesObserved {
  docker: boolean;
  /** `docker compose version --short`, undefined when the plugin is missing. */
  compose: string | undefined;
  /** Our pinned binary exists in /usr/local/lib/docker/cli-plugins. */
  pluginBinary: boolean;
  /** Debian: a Compose v2 package name apt knows, if any. */
  debianComposePackage: string | undefined;
  /** The version `docker buildx version` reports, undefined when the plugin is missing. */
  buildx?: string | undefined;
  /** Our pinned buildx exists in /usr/local/lib/docker/cli-plugins. */
  buildxPluginBinary?: boolean;
  /** Ubuntu/Debian: the candidate version of apt's `docker-buildx`, if apt knows the package. */
  distroBuildx?: string | undefined;
  arch: string;
}

/** A pinned release binary installed as a Docker CLI plugin (checksummed before it is made executable). */
export interface PluginBinary {
  version: string;
  arch: string;
  sha256: string;
  url: string;
}

export type PackageAction =
  | { kind: 'dnf'; packages: string[] }
  | { kind: 'apt'; packages: string[] }
  | ({ kind: 'compose-binary' } & PluginBinary)
  | ({ kind: 'buildx-binary' } & PluginBinary);

type BinaryKind = Extract<PackageAction, PluginBinary>['kind'];

/** Per plugin: its file in the cli-plugins dir, its name in messages, and its config keys. */
const PLUGIN = {
  'compose-binary': {
    file: 'docker-compose',
    label: 'Compose',
    shaKey: 'docker.composeSha256',
    pin: COMPOSE_PIN,
    url: composeDownloadUrl,
  },
  'buildx-binary': {
    file: 'docker-buildx',
    label: 'buildx',
    shaKey: 'docker.buildxSha256',
    pin: BUILDX_PIN,
    url: buildxDownloadUrl,
  },
} as const;

export interface DockerPins {
  composeVersion: string;
  composeMinVersion: string;
  composeSha256: Record<string, string | undefined>;
  buildxVersion: string;
  buildxMinVersion: string;
  buildxSha256: Record<string, string | undefined>;
}

/** Pure: the pinned release binary for this architecture; exit 78 naming the key when no SHA-256 is known. */
function pinnedBinary(
  kind: BinaryKind,
  unameM: string,
  version: string,
  configured: Record<string, string | undefined>,
): PackageAction {
  const p = PLUGIN[kind];
  const arch = composeArch(unameM);
  if (!arch) throw new HostError('failure', `no ${p.label} release binary for architecture ${unameM}`);
  const pinned = version === p.pin.version ? p.pin.sha256[arch] : undefined;
  const sha256 = configured[arch] ?? pinned;
  if (!sha256) {
    throw new ConfigError(
      `${p.shaKey}.${arch}`,
      `config: ${p.shaKey}.${arch} is required to download ${p.label} ${version} ` +
        `(only ${p.pin.version} is pinned in the repo); refusing an unverified download`,
    );
  }
  return { kind, version, arch, sha256, url: p.url(version, arch) } as PackageAction;
}

/**
 * Pure: the package work for a platform. Docker from the distro; Compose v2
 * from the distro where it exists (Ubuntu `docker-compose-v2`), else the
 * pinned, checksummed release binary (AL2023). Never two Compose sources.
 * Buildx (>= `buildxMinVersion`, for `docker compose build`): apt's
 * `docker-buildx` when its candidate is recent enough and our binary is not
 * installed, else the pinned release binary in /usr/local/lib/docker/cli-plugins,
 * which the CLI finds before /usr/libexec/docker/cli-plugins (where the distro's
 * and AL2023's older buildx live), so one buildx is ever used.
 */
export function planPackages(platform: Platform, obs: PackagesObserved, docker: DockerPins): PackageAction[] {
  const composeOk = obs.compose !== undefined && versionAtLeast(obs.compose, docker.composeMinVersion);
  const buildxOk = obs.buildx !== undefined && versionAtLeast(obs.buildx, docker.buildxMinVersion);
  const buildxBinary = () =>
    pinnedBinary('buildx-binary', obs.arch, docker.buildxVersion, docker.buildxSha256);
  const distroBuildxOk =
    obs.distroBuildx !== undefined &&
    versionAtLeast(obs.distroBuildx, docker.buildxMinVersion) &&
    obs.buildxPluginBinary !== true;
  const actions: PackageAction[] = [];
  if (platform.family === 'al2023') {
    if (!obs.docker) actions.push({ kind: 'dnf', packages: ['docker'] });
    if (!composeOk) {
      actions.push(pinnedBinary('compose-binary', obs.arch, docker.composeVersion, docker.composeSha256));
    }
    if (!buildxOk) actions.push(buildxBinary());
    return actions;
  }
  if (platform.family === 'ubuntu') {
    if (obs.pluginBinary) {
      throw new HostError(
        'failure',
        `${SystemPath.composePluginDir}/docker-compose exists on Ubuntu, where Compose comes from docker-compose-v2: ` +
          'remove it so only one Compose source is installed',
      );
    }
    const pkgs = [...(obs.docker ? [] : ['docker.io']), ...(composeOk ? [] : ['docker-compose-v2'])];
    if (!buildxOk && distroBuildxOk) pkgs.push('docker-buildx');
    if (pkgs.length > 0) actions.push({ kind: 'apt', packages: pkgs });
    if (!buildxOk && !distroBuildxOk) actions.push(buildxBinary());
    return actions;
  }
  // Debian 12 ships only Compose v1; use a v2 package when a configured repo offers one.
  const pkgs = obs.docker ? [] : ['docker.io'];
  if (!composeOk) {
    if (!obs.debianComposePackage) {
      throw new HostError(
        'failure',
        `${platform.name} has no Compose v2 package (Debian 12 packages only docker-compose 1.x) and ` +
          `docker compose ${obs.compose ? `is ${obs.compose}` : 'is missing'}; install Compose ≥ ${docker.composeMinVersion} ` +
          "(e.g. docker-compose-plugin from Docker's apt repository) and run again",
      );
    }
    pkgs.push(obs.debianComposePackage);
  }
  if (!buildxOk && distroBuildxOk) pkgs.push('docker-buildx');
  if (pkgs.length > 0) actions.push({ kind: 'apt', packages: pkgs });
  if (!buildxOk && !distroBuildxOk) actions.push(buildxBinary());
  return actions;
}

export function describeAction(a: PackageAction, root: string): string {
  if (a.kind === 'dnf') return `dnf install -y ${a.packages.join(' ')}`;
  if (a.kind === 'apt')
    return `apt-get install -y ${a.packages.join(' ')} (waiting up to 300 s for the dpkg lock)`;
  const p = PLUGIN[a.kind];
  return `download ${p.label} ${a.version} for ${a.arch}, verify SHA-256 ${a.sha256}, install 0755 to ${rooted(root, SystemPath.composePluginDir)}/${p.file}`;
}

/** `github.com/docker/buildx v0.17.1 257815a` → `v0.17.1`; undefined when buildx is missing. */
export function parseBuildxVersion(r: { exitCode: number; stdout: string }): string | undefined {
  if (r.exitCode !== 0) return undefined;
  return /\s(v?\d+\.\d+(?:\.\d+)?\S*)/.exec(` ${r.stdout}`)?.[1] ?? '0.0.0';
}

async function buildxVersion(ctx: BootstrapContext): Promise<string | undefined> {
  return parseBuildxVersion(await ctx.shell.run('docker', ['buildx', 'version']));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function observe(ctx: BootstrapContext, platform: Platform): Promise<PackagesObserved> {
  const docker = (await ctx.shell.run('docker', ['--version'])).exitCode === 0;
  const c = docker ? await ctx.shell.run('docker', ['compose', 'version', '--short']) : undefined;
  const compose = c && c.exitCode === 0 && c.stdout.trim() ? c.stdout.trim() : undefined;
  const buildx = docker ? await buildxVersion(ctx) : undefined;
  const pluginDir = rooted(ctx.root, SystemPath.composePluginDir);
  const pluginBinary = await isFile(join(pluginDir, 'docker-compose'));
  const buildxPluginBinary = await isFile(join(pluginDir, 'docker-buildx'));
  let distroBuildx: string | undefined;
  if (platform.family !== 'al2023' && !versionAtLeast(buildx ?? '', ctx.config.docker.buildxMinVersion)) {
    const r = await ctx.shell.run('apt-cache', ['show', '--no-all-versions', 'docker-buildx']);
    if (r.exitCode === 0) distroBuildx = /^Version:\s*(\S+)/m.exec(r.stdout)?.[1];
  }
  let debianComposePackage: string | undefined;
  if (platform.family === 'debian' && !compose) {
    for (const name of ['docker-compose-plugin', 'docker-compose-v2']) {
      const r = await ctx.shell.run('apt-cache', ['show', '--no-all-versions', name]);
      if (r.exitCode === 0 && r.stdout.trim()) {
        debianComposePackage = name;
        break;
      }
    }
  }
  const arch = (await runChecked(ctx.shell, 'uname', ['-m'])).trim();
  return {
    docker,
    compose,
    pluginBinary,
    debianComposePackage,
    buildx,
    buildxPluginBinary,
    distroBuildx,
    arch,
  };
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/**
 * A pinned CLI plugin (Compose or buildx): download to a 0600 temp file,
 * verify, and only then make it executable and move it in place.
 */
async function installPluginBinary(ctx: BootstrapContext, a: Extract<PackageAction, PluginBinary>) {
  const { file, label } = PLUGIN[a.kind];
  const dir = rooted(ctx.root, SystemPath.composePluginDir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const temp = join(dir, `.${file}.download-${process.pid}`);
  try {
    await withRetry(ctx.clock, () =>
      runChecked(ctx.shell, 'curl', ['-fsSL', '--retry', '3', '-o', temp, a.url], { timeoutMs: 10 * 60_000 }),
    );
    await chmod(temp, 0o600);
    const actual = await sha256File(temp);
    if (actual !== a.sha256) {
      throw new HostError(
        'failure',
        `${label} ${a.version} (${a.arch}) from ${a.url} has SHA-256 ${actual}, expected ${a.sha256}: refusing to install it`,
      );
    }
    await chmod(temp, 0o755);
    await rename(temp, join(dir, file));
  } finally {
    await rm(temp, { force: true });
  }
}

async function apply(ctx: BootstrapContext, a: PackageAction) {
  const retry = <T>(fn: () => Promise<T>) =>
    withRetry(ctx.clock, fn, { onRetry: (err) => ctx.progress(`retrying after: ${(err as Error).message}`) });
  if (a.kind === 'dnf') {
    await retry(() =>
      runChecked(ctx.shell, 'dnf', ['install', '-y', ...a.packages], { timeoutMs: 20 * 60_000 }),
    );
  } else if (a.kind === 'apt') {
    await retry(() =>
      runChecked(ctx.shell, 'apt-get', [...APT_LOCK, 'update'], { env: APT_ENV, timeoutMs: 20 * 60_000 }),
    );
    await retry(() =>
      runChecked(
        ctx.shell,
        'apt-get',
        [...APT_LOCK, 'install', '-y', '--no-install-recommends', ...a.packages],
        {
          env: APT_ENV,
          timeoutMs: 20 * 60_000,
        },
      ),
    );
  } else {
    await installPluginBinary(ctx, a);
  }
}

/** Node must be ≥ 20 (the bundle targets it); pure for tests. */
export function nodeOk(version: string): boolean {
  return versionAtLeast(version, '20.0.0');
}

export const packagesStep: Step = {
  name: 'packages',
  async run(ctx) {
    const platform = await requirePlatform(ctx, 'the packages step');
    const obs = await observe(ctx, platform);
    const actions = planPackages(platform, obs, ctx.config.docker);
    const running = ctx.host.systemdRunning();
    const dockerActive =
      running &&
      (await ctx.shell.run('systemctl', ['is-active', '--quiet', 'docker'], { timeoutMs: 60_000 }))
        .exitCode === 0;
    const enable = running && (!dockerActive || actions.length > 0);
    if (ctx.dryRun) {
      const changes = actions.map((a) => describeAction(a, ctx.root));
      if (enable) changes.push('systemctl enable --now docker');
      if (changes.length === 0) {
        return unchanged(`docker, compose ${obs.compose} and buildx ${obs.buildx} present`);
      }
      return planned(changes);
    }
    for (const a of actions) {
      ctx.progress(describeAction(a, ctx.root));
      await apply(ctx, a);
    }
    // --now waits for dockerd to start; bounded, so a stuck start ends the step instead of the boot.
    if (enable)
      await runChecked(ctx.shell, 'systemctl', ['enable', '--now', 'docker'], {
        timeoutMs: ctx.limits.systemctlMs,
      });
    // Verify what we have now, whatever installed it.
    const c = await ctx.shell.run('docker', ['compose', 'version', '--short']);
    const compose = c.exitCode === 0 ? c.stdout.trim() : '';
    if (!versionAtLeast(compose, ctx.config.docker.composeMinVersion)) {
      throw new HostError(
        'failure',
        `docker compose version is "${compose || c.stderr.trim() || 'missing'}", need ≥ ${ctx.config.docker.composeMinVersion}`,
      );
    }
    const buildx = (await buildxVersion(ctx)) ?? '';
    if (!versionAtLeast(buildx, ctx.config.docker.buildxMinVersion)) {
      // Our copy in /usr/local/lib/docker/cli-plugins is shadowed only by ~/.docker/cli-plugins
      // (or cliPluginsExtraDirs); the distro's in /usr/libexec/docker/cli-plugins comes after it.
      throw new HostError(
        'failure',
        `docker buildx version is "${buildx || 'missing'}", need ≥ ${ctx.config.docker.buildxMinVersion} ` +
          '(is an older docker-buildx in ~/.docker/cli-plugins shadowing the installed one?)',
      );
    }
    if (!nodeOk(process.versions.node)) {
      throw new HostError(
        'failure',
        `node ${process.versions.node} is too old: dalston-host needs node ≥ 20`,
      );
    }
    const dockerNote = running ? '' : '; docker not enabled/started: systemd is not running (PID 1)';
    const summary = `docker, compose ${compose}, buildx ${buildx}, node ${process.versions.node}${dockerNote}`;
    if (actions.length === 0 && !enable) return unchanged(summary);
    return done(
      `${actions.map((a) => describeAction(a, ctx.root)).join('; ') || 'enabled docker'}; ${summary}`,
    );
  },
};
