/**
 * The /healthz rule, pure: the agent is healthy while Docker answers, the event
 * stream is connected (or has been reconnecting for less than 30 s), and the last
 * reconcile is younger than two reconcile intervals. The same verdict gates the
 * systemd watchdog ping, so a wedged agent is restarted.
 */

/** How long the event stream may be reconnecting before the agent counts as unhealthy. */
export const EVENTS_RECONNECT_GRACE_MS = 30_000;

export interface HealthInputs {
  dockerConnected: boolean;
  eventsConnected: boolean;
  /** When the event stream was lost; null when connected or never connected. */
  eventsDisconnectedSince: Date | number | null;
  /** When the last reconcile finished; null before the first one. */
  lastReconcileAt: Date | number | null;
  reconcileIntervalSeconds: number;
  now: Date | number;
}

export interface HealthVerdict {
  ok: boolean;
  /** One short sentence per failing condition, for the 503 body and the logs. */
  failing: string[];
}

const ms = (t: Date | number): number => (typeof t === 'number' ? t : t.getTime());
const secs = (m: number): string => `${Math.round(m / 1000)} s`;

export function evaluateHealth(input: HealthInputs): HealthVerdict {
  const now = ms(input.now);
  const failing: string[] = [];

  if (!input.dockerConnected) failing.push('docker: the daemon does not answer');

  if (!input.eventsConnected) {
    if (input.eventsDisconnectedSince === null) {
      failing.push('events: the Docker event stream is not connected');
    } else {
      const down = now - ms(input.eventsDisconnectedSince);
      if (down >= EVENTS_RECONNECT_GRACE_MS) {
        failing.push(
          `events: the Docker event stream has been reconnecting for ${secs(down)} ` +
            `(limit ${secs(EVENTS_RECONNECT_GRACE_MS)})`,
        );
      }
    }
  }

  const limit = 2 * input.reconcileIntervalSeconds * 1000;
  if (input.lastReconcileAt === null) {
    failing.push('reconcile: no reconcile has completed yet');
  } else {
    const age = now - ms(input.lastReconcileAt);
    if (age >= limit) {
      failing.push(`reconcile: the last reconcile finished ${secs(age)} ago (limit ${secs(limit)})`);
    }
  }

  return { ok: failing.length === 0, failing };
}
