/**
 * Waiting until a changed stack is healthy: every configured service has a
 * running container that is healthy (or running, without a healthcheck), seen
 * on two polls in a row so a container that crashes right after starting does
 * not pass on one lucky look.
 */

import type { DockerClient } from '../shared/engine/docker/types.ts';
import { HostError } from '../shared/errors.ts';
import type { Clock } from '../shared/time/clock.ts';
import { unhealthyServices } from './dalston-change-plan.ts';

export async function waitStackHealthy(
  deps: { docker: Pick<DockerClient, 'listProjectContainers'>; clock: Clock },
  project: string,
  services: readonly string[],
  timeoutMs: number,
  pollMs = 1_000,
): Promise<void> {
  const { clock } = deps;
  const deadline = clock.now() + timeoutMs;
  let goodInARow = 0;
  let last: string[] = [];
  for (;;) {
    last = unhealthyServices(await deps.docker.listProjectContainers(project), services);
    goodInARow = last.length === 0 ? goodInARow + 1 : 0;
    if (goodInARow >= 2) return;
    if (clock.now() >= deadline) {
      throw new HostError(
        'failure',
        `not healthy within ${Math.round(timeoutMs / 1000)} s: ${last.join(', ') || 'not stable yet'}`,
      );
    }
    await clock.sleep(pollMs);
  }
}
