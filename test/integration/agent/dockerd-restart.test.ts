import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZxShell } from '../../../shared/shell.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';
import { AgentProcess, eventually } from './agent-process.ts';

/**
 * dockerd restarted under the agent. The harness's daemon is shared with other
 * tests, so this file starts a second private dockerd of its own, loads the
 * stand-in image into it, and restarts that one.
 */

const shell = new ZxShell();
let dir: string;
let socket: string;
let dockerd: ChildProcess | null = null;
let docker2: Docker;
let agent: AgentProcess | undefined;
let gateway: Server;
let statusUrl: string;
const project = `dhtest-dockerd-${Math.random().toString(16).slice(2, 6)}`;

let logFd: number;
function startDockerd(): ChildProcess {
  const p = spawn(
    'dockerd',
    [
      '--host',
      `unix://${socket}`,
      '--data-root',
      join(dir, 'root'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '--iptables=false',
      '--bridge=none',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  return p;
}

async function stopDockerd(): Promise<void> {
  const p = dockerd;
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGKILL');
    await exited;
  }
  dockerd = null;
}

async function status(): Promise<StatusSnapshot> {
  return (await (await fetch(statusUrl, { signal: AbortSignal.timeout(3_000) })).json()) as StatusSnapshot;
}

beforeAll(async () => {
  requireCommand('dockerd', 'apt-get install -y docker.io');
  const image = requireEnv('DALSTON_TEST_IMAGE');
  // Short paths: the daemon's unix sockets live under them.
  dir = await mkdtemp(join(os.tmpdir(), 'dh-d2-'));
  socket = join(dir, 'docker.sock');
  logFd = openSync(join(dir, 'dockerd.log'), 'a');
  dockerd = startDockerd();
  docker2 = new Docker({ socketPath: socket });
  await eventually(async () => (await docker2.ping()) && true, 60_000, 'second dockerd answering');
  // Copy the stand-in image from the harness daemon.
  const saved = await shell.run('sh', [
    '-c',
    `docker save ${image} | DOCKER_HOST=unix://${socket} docker load`,
  ]);
  if (saved.exitCode !== 0) throw new Error(`copying ${image} to the second dockerd failed: ${saved.stderr}`);

  const work = join(dir, 'compose');
  await mkdir(work);
  const trigger = join(dir, 'trigger');
  await mkdir(trigger);
  const svc = (script: string, health: string[]) => ({
    image,
    pull_policy: 'never',
    restart: 'unless-stopped',
    stop_grace_period: '3s',
    command: ['sh', '-c', `trap "exit 0" TERM; ${script}; while :; do sleep 1; done`],
    healthcheck: { test: health, interval: '1s', timeout: '10s', retries: 2 },
  });
  await writeFile(
    join(work, 'docker-compose.yml'),
    JSON.stringify({
      services: {
        'stays-healthy': svc('touch /tmp/healthy', ['CMD', 'test', '-f', '/tmp/healthy']),
        // Unhealthy while the test's trigger file exists; a (re)start clears it.
        'unhealthy-after-daemon-restart': {
          ...svc('rm -f /trigger/unhealthy', ['CMD', 'test', '!', '-f', '/trigger/unhealthy']),
          volumes: [`${trigger}:/trigger`],
        },
      },
    }),
  );
  gateway = createServer((_q, r) => r.end('ok'));
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
  await writeHostSecrets(dir);
  const config = join(dir, 'host.json');
  await writeFile(
    config,
    JSON.stringify({
      dataDir: dir,
      compose: { project, workingDir: work, files: ['docker-compose.yml'] },
      agent: {
        listen: '127.0.0.1:0',
        stateDir: join(dir, 'state'),
        requireDataMount: false,
        gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/`,
        reconcileIntervalSeconds: 3,
        restartBudget: { max: 3, windowSeconds: 600 },
        backoff: { initialSeconds: 2, maxSeconds: 4, resetAfterHealthySeconds: 600 },
        stopGraceSeconds: 3,
      },
    }),
  );
  agent = new AgentProcess(config, { DOCKER_HOST: `unix://${socket}` });
  const l = await agent.waitForLine((x) => x.msg === 'status endpoint listening', 60_000, 'listening');
  statusUrl = `http://${l.address as string}/status`;
  await agent.waitForLine((x) => x.msg === 'agent ready', 120_000, 'agent ready');
}, 300_000);

afterAll(async () => {
  await agent?.ensureDead();
  gateway?.close();
  if (docker2 && dockerd) {
    const cs = await docker2.listContainers({ all: true }).catch(() => []);
    await Promise.all(
      cs.map((c) =>
        docker2
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {}),
      ),
    );
  }
  await stopDockerd();
  if (dir) {
    await shell.run('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/self/mounts | xargs -r -n1 umount -l`]);
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);

describe('dockerd restarted under the agent', () => {
  it('reconnects the event stream, reconciles, and heals what changed meanwhile', async () => {
    await eventually(
      async () => (await status()).services.every((s) => s.health === 'healthy'),
      30_000,
      'both services healthy',
    );
    const before = agent!.lines.length;
    await stopDockerd();
    await eventually(
      async () => {
        const res = await fetch(statusUrl.replace('/status', '/healthz'));
        return res.status === 503 ? true : null;
      },
      20_000,
      '/healthz 503 while Docker is down',
    );
    dockerd = startDockerd();
    await eventually(async () => (await docker2.ping()) && true, 60_000, 'second dockerd back');
    // dockerd restarts the containers itself (unless-stopped), and the service's start removes
    // the trigger: wait until it has restarted and passed a healthcheck, or on a slow machine the
    // restart lands after the trigger is written and wipes it (seen in CI).
    await eventually(
      async () => {
        const cs = await docker2.listContainers({
          filters: { label: [`com.docker.compose.project=${project}`] },
        });
        return cs.length === 2 && cs.every((c) => c.State === 'running' && c.Status.includes('(healthy)'))
          ? true
          : null;
      },
      60_000,
      'dockerd restarted both containers and they passed a healthcheck',
    );
    // Right as the daemon is back, while the agent is still reconnecting (with backoff), a service
    // turns unhealthy: whether the agent sees the event live or only through the reconcile that
    // follows the reconnect, it must heal it.
    await writeFile(join(dir, 'trigger', 'unhealthy'), '');
    await agent!.waitForLine(
      (l) => l.msg === 'docker event stream reconnected',
      60_000,
      'event stream reconnected',
    );
    const diag = async () => {
      const cs = await docker2.listContainers({ all: true });
      const log = (await readFile(join(dir, 'dockerd.log'), 'utf8'))
        .split('\n')
        .filter((l) => /level=(warn|error)|[Ss]hutdown|[Ss]topping|restart/.test(l));
      return `${JSON.stringify(cs.map((c) => [c.Names[0], c.State, c.Status]))}\n${log.slice(-30).join('\n')}`;
    };
    const healed = await agent!
      .waitForLine(
        (l) => l.action === 'restart' && l.service === 'unhealthy-after-daemon-restart',
        60_000,
        'restart of unhealthy-after-daemon-restart',
      )
      .catch(async (err) => {
        throw new Error(`${(err as Error).message}\ncontainers: ${await diag()}`);
      });
    expect(healed.reason).toBe('running but unhealthy');
    const s = await eventually(
      async () => {
        const st = await status();
        return st.services.every((x) => x.health === 'healthy') && st.docker.eventsConnected ? st : null;
      },
      60_000,
      'all healthy and events connected again',
    );
    expect(s.docker.connected).toBe(true);
    expect((await fetch(statusUrl.replace('/status', '/healthz'))).status).toBe(200);
    const lost = agent!.lines.slice(before).filter((l) => l.msg === 'docker event stream lost; reconnecting');
    expect(lost.length).toBeGreaterThanOrEqual(1);
    // Healed exactly once, and the healthy service was never touched.
    const acts = agent!.lines.filter((l) => l.action === 'restart');
    expect(acts.map((l) => l.service)).toEqual(['unhealthy-after-daemon-restart']);
  });

  it('SIGTERM still stops the stack and exits 0 after the reconnect', async () => {
    agent!.kill('SIGTERM');
    expect((await agent!.exit).code).toBe(0);
    const running = await docker2.listContainers({
      filters: { label: [`com.docker.compose.project=${project}`] },
    });
    expect(running).toEqual([]);
  });
});
