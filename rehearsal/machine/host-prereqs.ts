import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { Shell } from '../../shared/shell.ts';

/** A host tool the rehearsal needs, and the Debian package that brings it. */
export interface HostTool {
  command: string;
  pkg: string;
}

export const HOST_TOOLS: readonly HostTool[] = [
  { command: 'debootstrap', pkg: 'debootstrap' },
  { command: 'systemd-nspawn', pkg: 'systemd-container' },
  { command: 'nsenter', pkg: 'util-linux' },
  { command: 'losetup', pkg: 'util-linux' },
  { command: 'blkid', pkg: 'util-linux' },
  { command: 'mount', pkg: 'mount' },
  { command: 'ip', pkg: 'iproute2' },
  { command: 'git', pkg: 'git' },
  { command: 'tar', pkg: 'tar' },
  { command: 'dpkg-deb', pkg: 'dpkg' },
];

const PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function hasCommand(name: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...PATH_DIRS].filter(Boolean);
  return dirs.some((d) => existsSync(`${d}/${name}`));
}

/** Pure: the packages to install for the tools that are missing. */
export function missingPackages(tools: readonly HostTool[], has: (cmd: string) => boolean): string[] {
  return [...new Set(tools.filter((t) => !has(t.command)).map((t) => t.pkg))];
}

/** Packages needed as such, not only for a command (busybox must be the static build: it is copied into an image). */
export const HOST_PACKAGES = ['busybox-static'] as const;

async function packageInstalled(shell: Shell, pkg: string): Promise<boolean> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const r = await shell.run('dpkg-query', ['-W', '-f=${Status}', pkg]);
  return r.exitCode === 0 && r.stdout.includes('install ok installed');
}

/** Installs missing host tools with apt; throws naming the packages when that is impossible. */
export async function ensureHostTools(shell: Shell, log: (line: string) => void): Promise<void> {
  const pkgs = missingPackages(HOST_TOOLS, hasCommand);
  for (const p of HOST_PACKAGES) if (!(await packageInstalled(shell, p))) pkgs.push(p);
  if (pkgs.length === 0) return;
  log(`installing ${pkgs.join(', ')} with apt-get`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const update = await shell.run('apt-get', ['update', '-qq'], { env, timeoutMs: 10 * 60_000 });
  const install =
    update.exitCode === 0
      ? await shell.run('apt-get', ['install', '-y', '-qq', ...pkgs], { env, timeoutMs: 15 * 60_000 })
      : update;
  const still = missingPackages(HOST_TOOLS, hasCommand);
  for (const p of HOST_PACKAGES) if (!(await packageInstalled(shell, p))) still.push(p);
  if (install.exitCode !== 0 || still.length > 0) {
    const detail = (install.stderr || install.stdout).trim().split('\n').slice(-4).join(' | ');
    throw new Error(
      `the rehearsal needs ${still.join(', ') || pkgs.join(', ')} and apt-get could not install them: ${detail}; ` +
        `install them by hand: apt-get install ${pkgs.join(' ')}`,
    );
  }
}

/** nspawn refuses to run unless /run/systemd/nspawn is a writable tmpfs (see shared/LAB.md). */
export async function ensureNspawnRuntimeDir(shell: Shell): Promise<void> {
  const dir = '/run/systemd/nspawn';
  if ((await shell.run('mountpoint', ['-q', dir])).exitCode === 0) return;
  await mkdir(dir, { recursive: true });
  const r = await shell.run('mount', ['-t', 'tmpfs', 'tmpfs', dir]);
  if (r.exitCode !== 0)
    throw new Error(`cannot mount a tmpfs on ${dir} for systemd-nspawn: ${r.stderr.trim()}`);
}
