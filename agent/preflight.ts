import type { ComposeCli } from '../shared/engine/compose-cli.ts';
import type { DockerClient, EngineVersion } from '../shared/engine/docker/types.ts';
import { HostError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { type MountProbe, observeDataMount } from '../shared/mount/data-mount.ts';
import { readVolumeRefusal, type VolumeRefusal } from '../shared/mount/volume-refusal.ts';
import { versionAtLeast } from '../shared/version-compare.ts';

// The mount check is shared with the host probe and the bootstrap (shared/mount/data-mount.ts).
export { type MountProbe, systemMountProbe } from '../shared/mount/data-mount.ts';

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
  /** The bootstrap's refusal of the data volume at this boot, if any; by default read from /run. */
  volumeRefusal?: () => Promise<VolumeRefusal | null>;
  logger: Logger;
}): Promise<PreflightResult> {
  const { logger } = deps;
  if (deps.requireDataMount) {
    // Whatever systemd mounted from fstab, a disk the bootstrap refused is not the data volume.
    const refusal = await (deps.volumeRefusal ?? (() => readVolumeRefusal()))();
    if (refusal) {
      throw new HostError(
        'unsafeDisk',
        `the bootstrap refused the data volume at this boot (${refusal.step} step: ${refusal.message}); ` +
          'refusing to start the stack. Fix the disk, then run `systemctl restart dalston-bootstrap` ' +
          '(it starts the stack once the volume is accepted).',
      );
    }
    // This is what stops Postgres writing onto the root disk when the EBS volume is missing.
    const data = await observeDataMount(deps.dataDir, deps.mounts);
    if (!data.mounted) {
      throw new HostError(
        'dataNotMounted',
        `the data volume is not mounted at ${deps.dataDir} (${data.reason}): mount it with ` +
          '`dalston-host bootstrap --steps disk,mount`, then `systemctl restart dalston` (or set ' +
          'agent.requireDataMount to false for a host without one). The stack is not started, so nothing ' +
          'writes onto the root disk.',
      );
    }
    logger.info(
      { dataDir: deps.dataDir, device: data.device, majorMinor: data.majorMinor },
      'data volume is mounted',
    );
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
