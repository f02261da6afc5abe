import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  composeCli,
  dockerFromEnv,
  removeComposeProject,
  uniqueProjectName,
} from '../../harness/docker.ts';

const fixture = fileURLToPath(new URL('../../fixtures/compose/standin-stack/', import.meta.url));

describe('harness: a stand-in compose stack with the real docker compose v2', () => {
  const docker = dockerFromEnv();
  const project = uniqueProjectName('standin-stack');

  afterAll(async () => {
    await removeComposeProject(project, docker);
  });

  it('docker compose is v2', async () => {
    const r = await composeCli(['version', '--short']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^v?2\.\d+\.\d+/);
  });

  it('brings db then app up with --wait; both are healthy as read through dockerode labels', async () => {
    const up = await composeCli([
      '-p',
      project,
      '-f',
      path.join(fixture, 'compose.yaml'),
      'up',
      '-d',
      '--wait',
    ]);
    expect(up.exitCode, up.stderr).toBe(0);

    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${COMPOSE_PROJECT_LABEL}=${project}`] },
    });
    const byService = new Map(containers.map((c) => [c.Labels[COMPOSE_SERVICE_LABEL], c]));
    expect([...byService.keys()].sort()).toEqual(['app', 'db']);
    for (const service of ['db', 'app']) {
      const info = await docker.getContainer(byService.get(service)!.Id).inspect();
      expect(info.State.Running, service).toBe(true);
      expect(info.State.Health?.Status, service).toBe('healthy');
    }
    // app waited for db's health: compose records the dependency and app started after db was healthy.
    const app = await docker.getContainer(byService.get('app')!.Id).inspect();
    const db = await docker.getContainer(byService.get('db')!.Id).inspect();
    expect(app.Config.Labels['com.docker.compose.depends_on']).toMatch(/^db:service_healthy:/);
    expect(Date.parse(app.State.StartedAt)).toBeGreaterThan(Date.parse(db.State.StartedAt) + 900);
  });

  it('removeComposeProject leaves nothing labelled with the project', async () => {
    const removed = await removeComposeProject(project, docker);
    expect(removed).toBeGreaterThanOrEqual(3); // two containers and the default network
    const filters = { label: [`${COMPOSE_PROJECT_LABEL}=${project}`] };
    expect(await docker.listContainers({ all: true, filters })).toEqual([]);
    expect(await docker.listNetworks({ filters })).toEqual([]);
  });
});
