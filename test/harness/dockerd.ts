import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { tail } from './apt.ts';
import { dockerdPaths } from './paths.ts';
import { findCommand } from './require.ts';

export type DaemonSource =
  | 'DOCKER_HOST'
  | 'system socket'
  | 'fixed socket (reused)'
  | 'fixed socket (started)';

export interface DaemonInfo {
  dockerHost: string;
  source: DaemonSource;
  apiVersion: string;
  serverVersion: string;
}

const systemSocket = '/var/run/docker.sock';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Version of the daemon behind `docker`, or undefined when it does not answer within the timeout. */
async function probe(
  docker: Docker,
  timeoutMs = 3_000,
): Promise<{ apiVersion: string; serverVersion: string } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  const ask = docker
    .version()
    .then((v) => ({ apiVersion: v.ApiVersion, serverVersion: v.Version }))
    .catch(() => undefined);
  try {
    return await Promise.race([ask, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const viaSocket = (socketPath: string) => new Docker({ socketPath });

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A stopped daemon whose parent has not reaped it yet still answers kill(0): check for a zombie.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function registerUser(runId: string): Promise<void> {
  await mkdir(dockerdPaths.usersDir, { recursive: true });
  await writeFile(path.join(dockerdPaths.usersDir, runId), String(process.pid));
}

/** Takes the start lock (an atomic mkdir); a lock older than 2 minutes is a crashed run's and is broken. */
async function withStartLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(dockerdPaths.startLock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(dockerdPaths.startLock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > 120_000) await rm(dockerdPaths.startLock, { recursive: true, force: true });
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for the dockerd start lock ${dockerdPaths.startLock}`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(dockerdPaths.startLock, { recursive: true, force: true });
  }
}

async function logTail(): Promise<string> {
  return tail(await readFile(dockerdPaths.log, 'utf8').catch(() => '(no log)'), 15);
}

async function startPrivateDaemon(): Promise<{ apiVersion: string; serverVersion: string }> {
  const dockerd = findCommand('dockerd');
  if (!dockerd) throw new Error('missing prerequisite: dockerd is not on PATH (apt-get install docker.io)');
  await mkdir(dockerdPaths.dataRoot, { recursive: true });
  await mkdir(dockerdPaths.execRoot, { recursive: true });
  // A socket left by a dead daemon would make dockerd refuse to listen.
  await rm(dockerdPaths.socket, { force: true });
  const log = await open(dockerdPaths.log, 'a');
  const child = spawn(
    dockerd,
    // biome-ignore format: flag/value pairs
    [
      '--host', `unix://${dockerdPaths.socket}`,
      '--data-root', dockerdPaths.dataRoot,
      '--exec-root', dockerdPaths.execRoot,
      '--pidfile', dockerdPaths.pidFile,
      // No NAT or default bridge: the machine's network stays untouched; compose networks still work.
      '--iptables=false',
      '--bridge=none',
    ],
    { detached: true, stdio: ['ignore', log.fd, log.fd] },
  );
  await log.close();
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = `dockerd exited (code ${code}, signal ${signal})`;
  });
  child.unref();
  if (child.pid === undefined) throw new Error('could not spawn dockerd');
  await writeFile(dockerdPaths.ownedMarker, String(child.pid));

  const docker = viaSocket(dockerdPaths.socket);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const v = await probe(docker, 1_000);
    if (v) return v;
    if (exited) break;
    await sleep(200);
  }
  if (!exited) process.kill(child.pid, 'SIGKILL');
  await rm(dockerdPaths.ownedMarker, { force: true });
  throw new Error(
    `private dockerd on ${dockerdPaths.socket} did not answer within 30 s` +
      `${exited ? ` (${exited})` : ''}; log ${dockerdPaths.log}: ${await logTail()}`,
  );
}

/**
 * Finds a daemon to test against, in order: DOCKER_HOST, the system socket,
 * the harness's fixed socket; starts a private one there when none answers.
 * Daemons the harness did not start are never stopped.
 */
export async function ensureDockerDaemon(runId: string): Promise<DaemonInfo> {
  const envHost = process.env.DOCKER_HOST;
  if (envHost) {
    const v = await probe(new Docker());
    if (!v) {
      throw new Error(
        `DOCKER_HOST=${envHost} is set but no Docker daemon answers there; unset it to let the harness start its own`,
      );
    }
    return { dockerHost: envHost, source: 'DOCKER_HOST', ...v };
  }
  const sys = await probe(viaSocket(systemSocket), 1_500);
  if (sys) return { dockerHost: `unix://${systemSocket}`, source: 'system socket', ...sys };

  await mkdir(dockerdPaths.usersDir, { recursive: true });
  const dockerHost = `unix://${dockerdPaths.socket}`;
  return withStartLock(async () => {
    // Register before anything else so a concurrent run's teardown does not stop the daemon under us.
    await registerUser(runId);
    const reused = await probe(viaSocket(dockerdPaths.socket), 1_500);
    if (reused) return { dockerHost, source: 'fixed socket (reused)' as const, ...reused };
    const started = await startPrivateDaemon();
    return { dockerHost, source: 'fixed socket (started)' as const, ...started };
  });
}

/** Lazily unmounts every mount at or below `dir` (deepest first), from this process's mount table. */
function unmountBeneath(dir: string): void {
  const targets = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((t): t is string => t !== undefined && (t === dir || t.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) spawnSync('umount', ['-l', t], { stdio: 'ignore' });
}

/**
 * Drops this run's claim on the fixed-socket daemon and stops it only if a
 * harness run started it and no other live run still uses it. Returns a summary.
 */
export async function releaseDockerDaemon(runId: string): Promise<string> {
  await rm(path.join(dockerdPaths.usersDir, runId), { force: true });
  const owned = await readPid(dockerdPaths.ownedMarker);
  if (owned === undefined) return 'dockerd: left running (not started by the harness)';
  const others: string[] = [];
  for (const name of await readdir(dockerdPaths.usersDir).catch(() => [] as string[])) {
    const pid = await readPid(path.join(dockerdPaths.usersDir, name));
    if (pid !== undefined && pid !== process.pid && pidAlive(pid)) others.push(name);
    else await rm(path.join(dockerdPaths.usersDir, name), { force: true });
  }
  if (others.length > 0) return `dockerd: left running for ${others.length} other live run(s)`;

  if (pidAlive(owned)) {
    process.kill(owned, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (pidAlive(owned) && Date.now() < deadline) await sleep(200);
    if (pidAlive(owned)) process.kill(owned, 'SIGKILL');
  }
  // The data root stays: it caches the stand-in image for the next run.
  // dockerd can leave its namespace bind mounts (netns/default) behind; rm would fail on them with EBUSY.
  unmountBeneath(dockerdPaths.execRoot);
  await rm(dockerdPaths.execRoot, { recursive: true, force: true });
  await rm(dockerdPaths.socket, { force: true });
  await rm(dockerdPaths.pidFile, { force: true });
  await rm(dockerdPaths.ownedMarker, { force: true });
  return `dockerd: stopped the private daemon (pid ${owned}) this harness had started`;
}
