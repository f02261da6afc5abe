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
  // The last bad look, so a service that flaps is named even when the final look was good.
  let lastBad: string[] = [];
  for (;;) {
    const bad = unhealthyServices(await deps.docker.listProjectContainers(project), services);
    if (bad.length > 0) lastBad = bad;
    goodInARow = bad.length === 0 ? goodInARow + 1 : 0;
    if (goodInARow >= 2) return;
    if (clock.now() >= deadline) {
      const what = bad.length > 0 ? bad.join(', ') : `${lastBad.join(', ')} (good on the last look only)`;
      throw new HostError('failure', `not healthy within ${Math.round(timeoutMs / 1000)} s: ${what}`);
    }
    await clock.sleep(pollMs);
  }
}
