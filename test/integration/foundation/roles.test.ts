import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  composeCli,
  dockerFromEnv,
  removeComposeProject,
  uniqueProjectName,
} from '../../harness/docker.ts';

const file = fileURLToPath(new URL('../../fixtures/compose/roles/compose.yaml', import.meta.url));
const services = ['healthy', 'slow', 'degrades', 'never-healthy', 'crashing', 'http'] as const;
type Service = (typeof services)[number];

/** One observation of a service: health status (or run state when it has none) and restart count. */
interface Seen {
  health: string;
  running: boolean;
  restarts: number;
}

describe('harness: documented stand-in service roles', () => {
  const docker = dockerFromEnv();
  const project = uniqueProjectName('roles');
  const history = new Map<Service, Seen[]>(services.map((s) => [s, []]));
  const ids = new Map<Service, string>();
  let observing = true;
  let observer: Promise<void> | undefined;

  // Every service is sampled from the moment `up -d` returns, so each test sees the whole sequence
  // regardless of test order.
  async function observe(): Promise<void> {
    while (observing) {
      await Promise.all(
        services.map(async (s) => {
          const info = await docker.getContainer(ids.get(s)!).inspect();
          history.get(s)!.push({
            health: info.State.Health?.Status ?? 'none',
            running: info.State.Running,
            restarts: info.RestartCount,
          });
        }),
      );
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function until(service: Service, ok: (s: Seen) => boolean, timeoutMs = 30_000): Promise<Seen[]> {
    const deadline = Date.now() + timeoutMs;
    const h = history.get(service)!;
    while (Date.now() < deadline) {
      if (h.some(ok)) return h;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${service} never reached the expected state; seen: ${JSON.stringify(h.slice(-5))}`);
  }

  beforeAll(async () => {
    const up = await composeCli(['-p', project, '-f', file, 'up', '-d']);
    expect(up.exitCode, up.stderr).toBe(0);
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${COMPOSE_PROJECT_LABEL}=${project}`] },
    });
    for (const c of containers) ids.set(c.Labels[COMPOSE_SERVICE_LABEL] as Service, c.Id);
    expect([...ids.keys()].sort()).toEqual([...services].sort());
    observer = observe();
  });
  afterAll(async () => {
    observing = false;
    await observer?.catch(() => undefined);
    await removeComposeProject(project, docker);
  });

  it('healthy: becomes healthy, and unhealthy once /tmp/healthy is removed', async () => {
    await until('healthy', (s) => s.health === 'healthy');
    const exec = await docker.getContainer(ids.get('healthy')!).exec({ Cmd: ['rm', '/tmp/healthy'] });
    await exec.start({});
    await until('healthy', (s) => s.health === 'unhealthy');
  });

  it('slow: starting first, healthy later', async () => {
    const h = await until('slow', (s) => s.health === 'healthy');
    expect(h[0]?.health).toBe('starting');
  });

  it('degrades: healthy, then unhealthy while still running', async () => {
    const h = await until('degrades', (s) => s.health === 'unhealthy');
    const firstUnhealthy = h.findIndex((s) => s.health === 'unhealthy');
    expect(h.slice(0, firstUnhealthy).some((s) => s.health === 'healthy')).toBe(true);
    expect(h[firstUnhealthy]?.running).toBe(true);
  });

  it('never-healthy: running, goes from starting to unhealthy without ever being healthy', async () => {
    const h = await until('never-healthy', (s) => s.health === 'unhealthy');
    expect(h.some((s) => s.health === 'healthy')).toBe(false);
    expect(h.every((s) => s.running)).toBe(true);
  });

  it('crashing: exits 1 and is restarted by docker', async () => {
    await until('crashing', (s) => s.restarts >= 1);
    const info = await docker.getContainer(ids.get('crashing')!).inspect();
    expect(info.HostConfig.RestartPolicy?.Name).toBe('always');
    const logs = (await docker.getContainer(info.Id).logs({ stdout: true, stderr: true })).toString('utf8');
    expect(logs).toContain('crashing');
  });

  it('http: serves /health and is healthy', async () => {
    await until('http', (s) => s.health === 'healthy');
    const info = await docker.getContainer(ids.get('http')!).inspect();
    expect(info.State.Health?.Log?.at(-1)?.Output).toContain('ok');
  });

  it('stop ends a service by SIGTERM, not by the kill after the grace period (init: true)', async () => {
    observing = false;
    await observer;
    const c = docker.getContainer(ids.get('http')!);
    await c.stop({ t: 60 });
    // 143 = 128 + SIGTERM. Without an init the shell ignores SIGTERM and docker kills it after 60 s: 137.
    expect((await c.inspect()).State.ExitCode).toBe(143);
    const down = await composeCli(['-p', project, '-f', file, 'down']);
    expect(down.exitCode, down.stderr).toBe(0);
  });
});
