import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Shell } from '../../shared/shell.ts';
import { tail } from './apt.ts';
import { debianMirror } from './apt-mirror.ts';
import { cacheDir, dockerConfigDir } from './paths.ts';

export interface ComposeVersion {
  major: number;
  minor: number;
  patch: number;
  raw: string;
}

/**
 * Pure: parses `docker compose version` output ("Docker Compose version v2.26.1",
 * "Docker Compose version 2.26.1-desktop.1"). Undefined when the docker CLI has
 * no compose plugin (it prints its usage or "unknown command" instead).
 */
export function parseComposeVersion(output: string): ComposeVersion | undefined {
  const m = /Docker Compose version v?(\d+)\.(\d+)\.(\d+)\S*/.exec(output);
  if (!m) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    raw: m[0].replace('Docker Compose version ', ''),
  };
}

const pluginPath = path.join(dockerConfigDir, 'cli-plugins', 'docker-compose');
const cachedBinary = path.join(cacheDir, 'compose', 'docker-compose');

async function composeVersion(
  shell: Shell,
  env: Record<string, string>,
): Promise<ComposeVersion | undefined> {
  const r = await shell.run('docker', ['compose', 'version'], { env, timeoutMs: 30_000 });
  return r.exitCode === 0 ? parseComposeVersion(r.stdout) : undefined;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Debian 12 ships only Compose v1. Debian 13's docker-compose package is the
 * static v2 binary: fetch it through apt with private state dirs (the system's
 * sources and lists stay untouched, their Debian mirror is reused) and unpack
 * it with dpkg -x.
 */
async function downloadComposeV2(shell: Shell): Promise<void> {
  const work = path.join(cacheDir, 'compose-apt');
  const parts = path.join(work, 'parts');
  await mkdir(path.join(work, 'lists', 'partial'), { recursive: true });
  await mkdir(path.join(work, 'cache', 'archives', 'partial'), { recursive: true });
  await mkdir(parts, { recursive: true });
  await writeFile(
    path.join(parts, 'trixie.sources'),
    `Types: deb\nURIs: ${await debianMirror()}\nSuites: trixie\nComponents: main\n` +
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
  );
  // biome-ignore format: option pairs read better on one line each
  const o = [
    '-o', 'Dir::Etc::sourcelist=/dev/null',
    '-o', `Dir::Etc::sourceparts=${parts}`,
    '-o', `Dir::State::Lists=${path.join(work, 'lists')}`,
    '-o', `Dir::Cache=${path.join(work, 'cache')}`,
  ];

  const dl = await mkdtemp(path.join(work, 'dl-'));
  try {
    let lastError = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      const update = await shell.run('apt-get', [...o, 'update'], { timeoutMs: 300_000 });
      const download =
        update.exitCode === 0
          ? await shell.run('apt-get', [...o, 'download', 'docker-compose'], { cwd: dl, timeoutMs: 300_000 })
          : update;
      if (download.exitCode === 0) {
        lastError = '';
        break;
      }
      lastError = tail(download.stderr || download.stdout);
    }
    if (lastError) {
      throw new Error(
        `could not download Compose v2 (Debian trixie package docker-compose) through apt: ${lastError}`,
      );
    }
    const deb = (await readdir(dl)).find((f) => f.startsWith('docker-compose_') && f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download docker-compose succeeded but left no docker-compose_*.deb');
    const x = path.join(dl, 'x');
    const unpack = await shell.run('dpkg', ['-x', path.join(dl, deb), x]);
    if (unpack.exitCode !== 0) throw new Error(`dpkg -x ${deb} failed: ${tail(unpack.stderr)}`);
    const bin = path.join(x, 'usr', 'libexec', 'docker', 'cli-plugins', 'docker-compose');
    if (!(await exists(bin)))
      throw new Error(`${deb} does not contain usr/libexec/docker/cli-plugins/docker-compose`);
    await mkdir(path.dirname(cachedBinary), { recursive: true });
    // Copy then rename: a concurrent run never sees a half-written binary.
    const partial = `${cachedBinary}.${process.pid}.partial`;
    await copyFile(bin, partial);
    await chmod(partial, 0o755);
    await rename(partial, cachedBinary);
  } finally {
    await rm(dl, { recursive: true, force: true });
  }
}

/** Makes `docker compose` (with DOCKER_CONFIG=dockerConfigDir) answer v2; returns a summary line. */
export async function ensureComposePlugin(shell: Shell, dockerEnv: Record<string, string>): Promise<string> {
  const env = { ...dockerEnv, DOCKER_CONFIG: dockerConfigDir };
  const present = await composeVersion(shell, env);
  if (present && present.major >= 2) return `compose: v${present.raw} already available`;

  let how = 'from cache';
  if (!(await exists(cachedBinary))) {
    await downloadComposeV2(shell);
    how = 'downloaded Debian trixie package';
  }
  await mkdir(path.dirname(pluginPath), { recursive: true });
  const partial = `${pluginPath}.${process.pid}.partial`;
  await copyFile(cachedBinary, partial);
  await chmod(partial, 0o755);
  await rename(partial, pluginPath);

  const installed = await composeVersion(shell, env);
  if (!installed || installed.major < 2) {
    const r = await shell.run('docker', ['compose', 'version'], { env });
    throw new Error(
      `installed ${pluginPath} but 'docker compose version' does not report v2: ${tail(r.stdout + r.stderr)}`,
    );
  }
  return `compose: installed v${installed.raw} as a CLI plugin (${how})`;
}
