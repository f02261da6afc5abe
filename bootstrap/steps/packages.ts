import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, HostError } from '../../shared/errors.ts';
import { runChecked } from '../../shared/shell.ts';
import type { BootstrapContext } from '../context.ts';
import type { Platform } from '../os-release.ts';
import { rooted, SystemPath } from '../paths.ts';
import { COMPOSE_PIN, composeArch, composeDownloadUrl } from '../pins.ts';
import { withRetry } from '../retry.ts';
import { versionAtLeast } from '../../shared/version-compare.ts';
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
  arch: string;
}

export type PackageAction =
  | { kind: 'dnf'; packages: string[] }
  | { kind: 'apt'; packages: string[] }
  | { kind: 'compose-binary'; version: string; arch: string; sha256: string; url: string };

/**
 * Pure: the package work for a platform. Docker from the distro; Compose v2
 * from the distro where it exists (Ubuntu `docker-compose-v2`), else the
 * pinned, checksummed release binary (AL2023). Never two Compose sources.
 */
export function planPackages(
  platform: Platform,
  obs: PackagesObserved,
  docker: {
    composeVersion: string;
    composeMinVersion: string;
    composeSha256: Record<string, string | undefined>;
  },
): PackageAction[] {
  const composeOk = obs.compose !== undefined && versionAtLeast(obs.compose, docker.composeMinVersion);
  const actions: PackageAction[] = [];
  if (platform.family === 'al2023') {
    if (!obs.docker) actions.push({ kind: 'dnf', packages: ['docker'] });
    if (!composeOk) {
      const arch = composeArch(obs.arch);
      if (!arch) throw new HostError('failure', `no Compose v2 release binary for architecture ${obs.arch}`);
      const pinned = docker.composeVersion === COMPOSE_PIN.version ? COMPOSE_PIN.sha256[arch] : undefined;
      const sha256 = docker.composeSha256[arch] ?? pinned;
      if (!sha256) {
        throw new ConfigError(
          `docker.composeSha256.${arch}`,
          `config: docker.composeSha256.${arch} is required to download Compose ${docker.composeVersion} ` +
            `(only ${COMPOSE_PIN.version} is pinned in the repo); refusing an unverified download`,
        );
      }
      actions.push({
        kind: 'compose-binary',
        version: docker.composeVersion,
        arch,
        sha256,
        url: composeDownloadUrl(docker.composeVersion, arch),
      });
    }
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
    if (pkgs.length > 0) actions.push({ kind: 'apt', packages: pkgs });
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
  if (pkgs.length > 0) actions.push({ kind: 'apt', packages: pkgs });
  return actions;
}

export function describeAction(a: PackageAction, root: string): string {
  if (a.kind === 'dnf') return `dnf install -y ${a.packages.join(' ')}`;
  if (a.kind === 'apt')
    return `apt-get install -y ${a.packages.join(' ')} (waiting up to 300 s for the dpkg lock)`;
  return `download Compose ${a.version} for ${a.arch}, verify SHA-256 ${a.sha256}, install 0755 to ${rooted(root, SystemPath.composePluginDir)}/docker-compose`;
}

async function observe(ctx: BootstrapContext, platform: Platform): Promise<PackagesObserved> {
  const docker = (await ctx.shell.run('docker', ['--version'])).exitCode === 0;
  const c = docker ? await ctx.shell.run('docker', ['compose', 'version', '--short']) : undefined;
  const compose = c && c.exitCode === 0 && c.stdout.trim() ? c.stdout.trim() : undefined;
  let pluginBinary = false;
  try {
    pluginBinary = (
      await stat(join(rooted(ctx.root, SystemPath.composePluginDir), 'docker-compose'))
    ).isFile();
  } catch {
    pluginBinary = false;
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
  return { docker, compose, pluginBinary, debianComposePackage, arch };
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Download to a 0600 temp file, verify, and only then make it executable and move it in place. */
async function installComposeBinary(
  ctx: BootstrapContext,
  a: Extract<PackageAction, { kind: 'compose-binary' }>,
) {
  const dir = rooted(ctx.root, SystemPath.composePluginDir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const temp = join(dir, `.docker-compose.download-${process.pid}`);
  try {
    await withRetry(ctx.clock, () =>
      runChecked(ctx.shell, 'curl', ['-fsSL', '--retry', '3', '-o', temp, a.url], { timeoutMs: 10 * 60_000 }),
    );
    await chmod(temp, 0o600);
    const actual = await sha256File(temp);
    if (actual !== a.sha256) {
      throw new HostError(
        'failure',
        `Compose ${a.version} (${a.arch}) from ${a.url} has SHA-256 ${actual}, expected ${a.sha256}: refusing to install it`,
      );
    }
    await chmod(temp, 0o755);
    await rename(temp, join(dir, 'docker-compose'));
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
    await installComposeBinary(ctx, a);
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
      running && (await ctx.shell.run('systemctl', ['is-active', '--quiet', 'docker'])).exitCode === 0;
    const enable = running && (!dockerActive || actions.length > 0);
    if (ctx.dryRun) {
      const changes = actions.map((a) => describeAction(a, ctx.root));
      if (enable) changes.push('systemctl enable --now docker');
      if (changes.length === 0) return unchanged(`docker and compose ${obs.compose} present`);
      return planned(changes);
    }
    for (const a of actions) {
      ctx.progress(describeAction(a, ctx.root));
      await apply(ctx, a);
    }
    if (enable) await runChecked(ctx.shell, 'systemctl', ['enable', '--now', 'docker']);
    // Verify what we have now, whatever installed it.
    const c = await ctx.shell.run('docker', ['compose', 'version', '--short']);
    const compose = c.exitCode === 0 ? c.stdout.trim() : '';
    if (!versionAtLeast(compose, ctx.config.docker.composeMinVersion)) {
      throw new HostError(
        'failure',
        `docker compose version is "${compose || c.stderr.trim() || 'missing'}", need ≥ ${ctx.config.docker.composeMinVersion}`,
      );
    }
    if (!nodeOk(process.versions.node)) {
      throw new HostError(
        'failure',
        `node ${process.versions.node} is too old: dalston-host needs node ≥ 20`,
      );
    }
    const dockerNote = running ? '' : '; docker not enabled/started: systemd is not running (PID 1)';
    const summary = `docker, compose ${compose}, node ${process.versions.node}${dockerNote}`;
    if (actions.length === 0 && !enable) return unchanged(summary);
    return done(
      `${actions.map((a) => describeAction(a, ctx.root)).join('; ') || 'enabled docker'}; ${summary}`,
    );
  },
};
