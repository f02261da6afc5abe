import { readFile, realpath, stat } from 'node:fs/promises';
import type { ComposeCli } from '../shared/engine/compose-cli.ts';
import type { DockerClient, EngineVersion } from '../shared/engine/docker/types.ts';
import { HostError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { versionAtLeast } from '../shared/version-compare.ts';

/** File system reads the mount check needs; tests inject a fake. */
export interface MountProbe {
  /** Resolved path, or null when it does not exist. */
  realpath(path: string): Promise<string | null>;
  /** st_dev, or null when it does not exist. */
  deviceOf(path: string): Promise<number | null>;
  mountInfo(): Promise<string>;
}

export const systemMountProbe: MountProbe = {
  async realpath(path) {
    try {
      return await realpath(path);
    } catch {
      return null;
    }
  },
  async deviceOf(path) {
    try {
      return (await stat(path)).dev;
    } catch {
      return null;
    }
  },
  mountInfo: () => readFile('/proc/self/mountinfo', 'utf8'),
};

/** Mount points listed in /proc/self/mountinfo (field 5, octal escapes decoded). */
export function mountPoints(mountinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp)
      out.add(mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
  }
  return out;
}

/**
 * dataDir must be a mount point of its own and not on the root filesystem:
 * this is what stops Postgres writing onto the root disk when the EBS volume
 * is missing. Returns null when fine, else the reason.
 */
export async function dataMountProblem(dataDir: string, probe: MountProbe): Promise<string | null> {
  const real = await probe.realpath(dataDir);
  if (real === null) return `${dataDir} does not exist`;
  if (!mountPoints(await probe.mountInfo()).has(real)) return `${dataDir} is not a mount point`;
  const [dev, rootDev] = await Promise.all([probe.deviceOf(real), probe.deviceOf('/')]);
  if (dev !== null && dev === rootDev) return `${dataDir} is on the root filesystem (a bind mount?)`;
  return null;
}

export interface PreflightResult {
  engine: EngineVersion;
  composeVersion: string;
}

/**
 * Checks before anything is created: Docker answers, the compose v2 CLI is
 * there, and the data volume is mounted (exit 3 otherwise).
 */
export async function preflight(deps: {
  docker: DockerClient;
  compose: Pick<ComposeCli, 'version'>;
  dataDir: string;
  requireDataMount: boolean;
  /** docker.composeMinVersion: older Compose cannot read the overlay (`!override`). */
  composeMinVersion: string;
  mounts: MountProbe;
  logger: Logger;
}): Promise<PreflightResult> {
  const { logger } = deps;
  if (deps.requireDataMount) {
    const problem = await dataMountProblem(deps.dataDir, deps.mounts);
    if (problem) {
      throw new HostError(
        'dataNotMounted',
        `the data volume is not mounted at ${deps.dataDir} (${problem}); refusing to start the stack so ` +
          'nothing writes onto the root disk. Mount the data volume (see `dalston-host disk`) or set ' +
          'agent.requireDataMount to false for a host without one.',
      );
    }
    logger.info({ dataDir: deps.dataDir }, 'data volume is mounted');
  } else {
    logger.warn({ dataDir: deps.dataDir }, 'agent.requireDataMount is false: not checking the data volume');
  }
  let engine: EngineVersion;
  try {
    engine = await deps.docker.version();
  } catch (err) {
    throw new HostError('unavailable', `Docker does not answer: ${(err as Error).message}`, { cause: err });
  }
  logger.info(engine, 'docker engine answers');
  let composeVersion: string;
  try {
    composeVersion = await deps.compose.version();
  } catch (err) {
    throw new HostError(
      'unavailable',
      `the docker compose v2 CLI is not available: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!versionAtLeast(composeVersion, deps.composeMinVersion)) {
    throw new HostError(
      'unavailable',
      `docker compose ${composeVersion} is older than ${deps.composeMinVersion} (docker.composeMinVersion): the overlay needs it`,
    );
  }
  logger.info({ composeVersion }, 'docker compose answers');
  return { engine, composeVersion };
}
