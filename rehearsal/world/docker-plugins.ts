import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runChecked, type Shell } from '../../shared/shell.ts';
import { debianMirror } from '../../test/harness/apt-mirror.ts';

/**
 * Docker CLI plugins copied into the machine instead of downloaded (an
 * instance gets them from its distro or a pinned GitHub download, which the
 * bootstrap skips when a recent enough one is installed). Debian 12 has only
 * Compose v1 and buildx 0.10, so they come from newer Debian suites through apt
 * with private state directories (shared/LAB.md) and the host's own Debian
 * mirror, cached next to the rootfs.
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
    const work = path.join(cacheDir, `apt-${plugin.suite}-${process.pid}`);
    const mirror = await debianMirror();
    try {
      const parts = path.join(work, 'parts');
      await mkdir(path.join(work, 'lists', 'partial'), { recursive: true });
      await mkdir(path.join(work, 'cache', 'archives', 'partial'), { recursive: true });
      await mkdir(parts, { recursive: true });
      await writeFile(
        path.join(parts, `${plugin.suite}.sources`),
        `Types: deb\nURIs: ${mirror}\nSuites: ${plugin.suite}\nComponents: main\n` +
          'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
      );
      const o = [
        '-o',
        'Dir::Etc::sourcelist=/dev/null',
        '-o',
        `Dir::Etc::sourceparts=${parts}`,
        '-o',
        `Dir::State::Lists=${path.join(work, 'lists')}`,
        '-o',
        `Dir::Cache=${path.join(work, 'cache')}`,
      ];
      await runChecked(shell, 'apt-get', [...o, 'update', '-qq'], { timeoutMs: 10 * 60_000 });
      await runChecked(shell, 'apt-get', [...o, 'download', plugin.pkg], {
        cwd: work,
        timeoutMs: 10 * 60_000,
      });
      const deb = (await readdir(work)).find((n) => n.startsWith(`${plugin.pkg}_`) && n.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${plugin.pkg} produced no .deb`);
      const x = path.join(work, 'x');
      await runChecked(shell, 'dpkg-deb', ['-x', path.join(work, deb), x]);
      await copyFile(path.join(x, 'usr', 'libexec', 'docker', 'cli-plugins', plugin.file), partial);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
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
