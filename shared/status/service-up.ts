import type { ServiceStatus } from './snapshot.ts';

/**
 * A service counts as up when its container runs and is healthy or has no
 * healthcheck. `exited` with a last verdict of `healthy` (what the agent's
 * event fast path shows right after a crash) is down.
 */
export function serviceIsUp(s: Pick<ServiceStatus, 'state' | 'health'>): boolean {
  return s.state === 'running' && (s.health === 'healthy' || s.health === 'none');
}
