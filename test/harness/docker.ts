import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { type ShellResult, ZxShell } from '../../shared/shell.ts';
import { ENV, PROJECT_PREFIX, RUN_LABEL } from './paths.ts';
import { requireEnv } from './require.ts';

export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

/** A Dockerode client for the daemon the harness chose (DOCKER_HOST). */
export function dockerFromEnv(): Docker {
  requireEnv(ENV.dockerHost);
  // docker-modem reads DOCKER_HOST (unix:// or tcp://) itself.
  return new Docker();
}

/**
 * A compose project name unique to this run and call, e.g.
 * `dhtest-1a2b3c-standin-9f8e`. The run's teardown removes every project with
 * this run's prefix, so a test that dies mid-way leaves nothing behind.
 */
export function uniqueProjectName(tag: string): string {
  const runId = process.env[ENV.runId] ?? 'norun';
  const clean = tag
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 30);
  return `${runProjectPrefix(runId)}${clean || 'p'}-${randomBytes(2).toString('hex')}`;
}

export function runProjectPrefix(runId: string): string {
  return `${PROJECT_PREFIX}-${runId}-`;
}

/** Labels for containers/volumes/networks a test creates directly, so teardown can find them. */
export function runLabels(): Record<string, string> {
  return { [RUN_LABEL]: process.env[ENV.runId] ?? 'norun' };
}

async function removeMatching(docker: Docker, filters: Record<string, string[]>): Promise<number> {
  let removed = 0;
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(
    containers.map(async (c) => {
      await docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        });
      removed++;
    }),
  );
  const networks = await docker.listNetworks({ filters });
  for (const n of networks) {
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404) throw err;
      });
    removed++;
  }
  const { Volumes } = await docker.listVolumes({ filters });
  for (const v of Volumes ?? []) {
    await docker
      .getVolume(v.Name)
      .remove({ force: true })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404) throw err;
      });
    removed++;
  }
  return removed;
}

/**
 * Force-removes every container, network and volume labelled with this compose
 * project (what `docker compose down -v` would, without needing the compose file).
 * Returns how many objects it removed.
 */
export async function removeComposeProject(
  project: string,
  docker: Docker = dockerFromEnv(),
): Promise<number> {
  return removeMatching(docker, { label: [`${COMPOSE_PROJECT_LABEL}=${project}`] });
}

/** Teardown: removes all compose projects whose name starts with `prefix`, and objects carrying RUN_LABEL=runId. */
export async function removeRunLeftovers(docker: Docker, runId: string): Promise<string[]> {
  const prefix = runProjectPrefix(runId);
  const projects = new Set<string>();
  const filters = { label: [COMPOSE_PROJECT_LABEL] };
  for (const c of await docker.listContainers({ all: true, filters })) {
    const p = c.Labels[COMPOSE_PROJECT_LABEL];
    if (p?.startsWith(prefix)) projects.add(p);
  }
  for (const n of await docker.listNetworks({ filters })) {
    const p = n.Labels?.[COMPOSE_PROJECT_LABEL];
    if (p?.startsWith(prefix)) projects.add(p);
  }
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) {
    const p = v.Labels?.[COMPOSE_PROJECT_LABEL];
    if (p?.startsWith(prefix)) projects.add(p);
  }
  for (const p of projects) await removeComposeProject(p, docker);
  const direct = await removeMatching(docker, { label: [`${RUN_LABEL}=${runId}`] });
  return direct > 0 ? [...projects, `${direct} object(s) labelled ${RUN_LABEL}=${runId}`] : [...projects];
}

export interface ComposeCliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
}

/** Runs the real `docker compose …` (v2 plugin via DOCKER_CONFIG); never throws on a non-zero exit. */
export async function composeCli(
  args: readonly string[],
  opts: ComposeCliOptions = {},
): Promise<ShellResult> {
  requireEnv(ENV.dockerHost);
  requireEnv(ENV.dockerConfig);
  return new ZxShell().run('docker', ['compose', ...args], {
    cwd: opts.cwd,
    env: opts.env,
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 180_000,
  });
}
