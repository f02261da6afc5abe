import type { Shell } from '../../shared/shell.ts';
import { findCommand } from './require.ts';

/** A Debian package the integration tests need, and how to tell it is already there. */
export interface AptRequirement {
  pkg: string;
  /** Commands the package provides; all must be found on PATH. */
  commands: readonly string[];
  /** Extra condition (e.g. the static flavour of busybox, which the stand-in image copies). */
  mustBeInstalledPackage?: boolean;
}

export const aptRequirements: readonly AptRequirement[] = [
  { pkg: 'docker.io', commands: ['dockerd', 'docker'] },
  // The image copies /bin/busybox into a scratch rootfs: it must be the static build.
  { pkg: 'busybox-static', commands: ['busybox'], mustBeInstalledPackage: true },
  { pkg: 'e2fsprogs', commands: ['mkfs.ext4', 'e2label', 'tune2fs'] },
  { pkg: 'util-linux', commands: ['losetup', 'blkid', 'findmnt', 'wipefs', 'lsblk'] },
  { pkg: 'mount', commands: ['mount', 'umount'] },
  { pkg: 'xfsprogs', commands: ['mkfs.xfs'] },
  { pkg: 'fdisk', commands: ['sfdisk', 'fdisk'] },
  { pkg: 'shellcheck', commands: ['shellcheck'] },
  { pkg: 'socat', commands: ['socat'] },
  { pkg: 'python3', commands: ['python3'] },
  { pkg: 'systemd', commands: ['systemd-analyze', 'systemd-notify'] },
  // Builds the Postgres/Redis images' rootfs from Debian's packages (debian-images.ts).
  { pkg: 'debootstrap', commands: ['debootstrap'] },
];

/** Pure: the packages to install, given which commands and packages are present. */
export function packagesToInstall(
  reqs: readonly AptRequirement[],
  hasCommand: (name: string) => boolean,
  hasPackage: (pkg: string) => boolean,
): string[] {
  return reqs
    .filter((r) => !r.commands.every(hasCommand) || (r.mustBeInstalledPackage === true && !hasPackage(r.pkg)))
    .map((r) => r.pkg);
}

async function dpkgInstalled(shell: Shell, pkg: string): Promise<boolean> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const r = await shell.run('dpkg-query', ['-W', '-f=${Status}', pkg]);
  return r.exitCode === 0 && r.stdout.trim() === 'install ok installed';
}

const aptEnv = { DEBIAN_FRONTEND: 'noninteractive' };
// Wait for a concurrent apt/dpkg (another run, unattended-upgrades) instead of failing at once.
const lockWait = ['-o', 'DPkg::Lock::Timeout=180'];

/** Installs whatever is missing; returns a one-line summary of what it did. */
export async function ensureAptPackages(shell: Shell, sleep: (ms: number) => Promise<void>): Promise<string> {
  const withPkgState = await Promise.all(
    aptRequirements.map(async (r) => [
      r.pkg,
      r.mustBeInstalledPackage ? await dpkgInstalled(shell, r.pkg) : true,
    ]),
  );
  const installed = new Map(withPkgState as [string, boolean][]);
  const missing = packagesToInstall(
    aptRequirements,
    (c) => findCommand(c) !== undefined,
    (p) => installed.get(p) === true,
  );
  if (missing.length === 0) return 'apt packages: all present';

  let lastError = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const update = await shell.run('apt-get', [...lockWait, 'update'], { env: aptEnv, timeoutMs: 300_000 });
    if (update.exitCode === 0) {
      const install = await shell.run(
        'apt-get',
        [...lockWait, 'install', '-y', '--no-install-recommends', ...missing],
        { env: aptEnv, timeoutMs: 900_000 },
      );
      if (install.exitCode === 0) {
        const still = aptRequirements.filter((r) => missing.includes(r.pkg)).flatMap((r) => r.commands);
        const absent = still.filter((c) => findCommand(c) === undefined);
        if (absent.length > 0) {
          throw new Error(
            `apt-get installed ${missing.join(' ')} but these commands are still missing: ${absent.join(' ')}`,
          );
        }
        return `apt packages: installed ${missing.join(' ')}`;
      }
      lastError = tail(install.stderr || install.stdout);
    } else {
      lastError = tail(update.stderr || update.stdout);
    }
    if (attempt < 3) await sleep(5_000 * attempt);
  }
  throw new Error(
    `could not install the packages the integration tests need (${missing.join(' ')}) with apt-get after 3 attempts: ${lastError}`,
  );
}

export function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join(' | ');
}
