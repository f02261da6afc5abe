import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import type { Shell } from '../../shared/shell.ts';
import { tail } from './apt.ts';
import { cachedDebianBinary } from './debian-package.ts';
import { cacheDir } from './paths.ts';
import { findCommand } from './require.ts';

/** The Debian release whose `docker-registry` package provides the Distribution registry (2.8 in bookworm). */
const SUITE = 'bookworm';
const cached = path.join(cacheDir, 'docker-registry', SUITE, 'docker-registry');

/**
 * Path of a `docker-registry` (the Docker Distribution registry): one on PATH, else the one from
 * Debian's `docker-registry` package, downloaded once into the harness cache and unpacked with
 * dpkg -x. Nothing is installed, so no registry service is started on port 5000.
 */
export async function ensureDockerRegistry(shell: Shell): Promise<string> {
  const onPath = findCommand('docker-registry');
  if (onPath) return onPath;
  return cachedDebianBinary(shell, {
    pkg: 'docker-registry',
    suite: SUITE,
    workDir: path.join(cacheDir, 'docker-registry-apt'),
    binary: 'usr/bin/docker-registry',
    cached,
  });
}

export interface LocalRegistry {
  /** `127.0.0.1:<port>`: the prefix of image references (loopback: dockerd allows plain HTTP). */
  host: string;
  /** Stops the registry and keeps its storage, so tests can see the registry go away. */
  stop(): Promise<void>;
  /** Stops it and removes its storage. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A Distribution registry as a plain process on a free loopback port, storing under a fresh
 * directory of `scratchDir`. Resolves once `/v2/` answers; the error carries the log's tail.
 */
export async function startRegistry(shell: Shell, scratchDir: string): Promise<LocalRegistry> {
  const binary = await ensureDockerRegistry(shell);
  const dir = await mkdtemp(path.join(scratchDir, 'registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = path.join(dir, 'config.yml');
  const log = path.join(dir, 'registry.log');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'storage')}\n` +
      `http:\n  addr: ${host}\n`,
  );
  const fd = openSync(log, 'a');
  let child: ChildProcess | undefined = spawn(binary, ['serve', config], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = once(child, 'exit');

  const stop = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await exited;
    }
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      const text = await readFile(log, 'utf8').catch(() => '');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not answer on ${host}: ${tail(text) || '(no log)'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    stop,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
