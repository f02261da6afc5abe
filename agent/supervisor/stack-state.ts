import type { StackState } from '../../shared/status/snapshot.ts';
import type { Condition } from './planner.ts';

export interface StackInput {
  stopping: boolean;
  /** The first reconcile has run. */
  reconciled: boolean;
  /** The last `compose up` failed and is being retried. */
  bringUpFailing: boolean;
  dockerConnected: boolean;
  /** The data guard has tripped: a bind under dataDir is (or was just) off the data volume. */
  dataVolumeMissing?: boolean;
  conditions: ReadonlyMap<string, Condition>;
  services: readonly string[];
  circuitOpen: ReadonlySet<string>;
  busy: ReadonlySet<string>;
  gatewayOk: boolean;
}

/**
 * healthy = every configured service running and healthy (or without a
 * healthcheck) and the gateway answering; starting = on the way there with
 * nothing failed; degraded = anything the operator should look at.
 */
export function stackState(s: StackInput): StackState {
  if (s.stopping) return 'stopping';
  if (!s.dockerConnected || s.bringUpFailing || s.circuitOpen.size > 0 || s.dataVolumeMissing)
    return 'degraded';
  if (!s.reconciled) return 'starting';
  let starting = false;
  for (const service of s.services) {
    const c = s.conditions.get(service) ?? 'missing';
    if (c === 'ok') continue;
    if (c === 'starting' || s.busy.has(service)) {
      starting = true;
      continue;
    }
    return 'degraded';
  }
  if (starting) return 'starting';
  return s.gatewayOk ? 'healthy' : 'degraded';
}
