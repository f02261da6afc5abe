import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runChecked, type Shell } from '../../shared/shell.ts';
import { withDebianPackage } from '../../test/harness/debian-package.ts';

/**
 * Docker CLI plugins copied into the machine instead of downloaded (an
 * instance gets them from its distro or a pinned GitHub download, which the
 * bootstrap skips when a recent enough one is installed). Debian 12 has only
 * Compose v1 and buildx 0.10, so they come from newer Debian suites through apt
 * with private state directories and the host's own Debian mirror
 * (test/harness/debian-package.ts), cached next to the rootfs.
 */
export interface DebianPlugin {
  /** File name under cli-plugins/. */
  file: string;
  pkg: string;
  suite: string;
  /** What `<plugin> version` must print. */
  versionPattern: RegExp;
}

export const COMPOSE_PLUGIN: DebianPlugin = {
  file: 'docker-compose',
  pkg: 'docker-compose',
  suite: 'trixie', // Compose 2.26
  versionPattern: /v?2\.\d+/,
};

export const BUILDX_PLUGIN: DebianPlugin = {
  file: 'docker-buildx',
  pkg: 'docker-buildx',
  // trixie has 0.13, older than the bootstrap's docker.buildxMinVersion (0.17).
  suite: 'sid',
  versionPattern: /\b0\.(1[7-9]|[2-9]\d)\.\d+/,
};

export async function ensureDockerPlugin(
  shell: Shell,
  cacheDir: string,
  plugin: DebianPlugin,
  log: (line: string) => void,
): Promise<string> {
  const target = path.join(cacheDir, 'plugins', plugin.file);
  if (existsSync(target)) return target;
  await mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.partial-${process.pid}`;
  // The integration harness caches the same Compose binary; reuse it when it is there.
  const harnessCopy = path.join(os.tmpdir(), 'dalston-host-test', 'cache', 'compose', 'docker-compose');
  if (plugin.file === 'docker-compose' && existsSync(harnessCopy)) {
    await copyFile(harnessCopy, partial);
  } else {
    log(`fetching ${plugin.file} (Debian ${plugin.suite}'s ${plugin.pkg} package) through apt`);
    // apt's lists and downloads for this suite stay in the cache (withDebianPackage reuses them).
    await withDebianPackage(
      shell,
      { pkg: plugin.pkg, suite: plugin.suite, workDir: path.join(cacheDir, `apt-${plugin.suite}`) },
      (root) => copyFile(path.join(root, 'usr', 'libexec', 'docker', 'cli-plugins', plugin.file), partial),
    );
  }
  await chmod(partial, 0o755);
  const v = await shell.run(partial, ['version']);
  if (v.exitCode !== 0 || !plugin.versionPattern.test(v.stdout)) {
    await rm(partial, { force: true });
    throw new Error(
      `${plugin.file} from Debian ${plugin.suite} is not usable: ${(v.stderr || v.stdout).trim()}`,
    );
  }
  await runChecked(shell, 'mv', ['-f', partial, target]);
  return target;
}
