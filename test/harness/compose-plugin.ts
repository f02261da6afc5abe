import { chmod, copyFile, mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Shell } from '../../shared/shell.ts';
import { tail } from './apt.ts';
import { withDebianPackage } from './debian-package.ts';
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
 * static v2 binary: fetch it through apt (test/harness/debian-package.ts) and keep
 * the binary in the cache.
 */
async function downloadComposeV2(shell: Shell): Promise<void> {
  await withDebianPackage(
    shell,
    { pkg: 'docker-compose', suite: 'trixie', workDir: path.join(cacheDir, 'compose-apt') },
    async (root, deb) => {
      const bin = path.join(root, 'usr', 'libexec', 'docker', 'cli-plugins', 'docker-compose');
      if (!(await exists(bin)))
        throw new Error(`${deb} does not contain usr/libexec/docker/cli-plugins/docker-compose`);
      await mkdir(path.dirname(cachedBinary), { recursive: true });
      // Copy then rename: a concurrent run never sees a half-written binary.
      const partial = `${cachedBinary}.${process.pid}.partial`;
      await copyFile(bin, partial);
      await chmod(partial, 0o755);
      await rename(partial, cachedBinary);
    },
  );
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
