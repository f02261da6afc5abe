/**
 * Gateway downtime during a Dalston change: the gateway's health URL is probed
 * on a short interval from just before the switch until the stack is healthy
 * again (or rolled back), and the time it did not answer is summed.
 */
import { probeGateway } from '../shared/net/gateway-probe.ts';
import type { Clock } from '../shared/time/clock.ts';

/** True when the gateway answers 2xx within the timeout. */
export type GatewayProbe = () => Promise<boolean>;

export function httpGatewayProbe(url: string): GatewayProbe {
  return () => probeGateway(url);
}

/**
 * Pure tally of probe results: downtime runs from the first failed probe to the
 * next successful one; a failure still open at the end counts until then.
 */
export class DowntimeTally {
  private downSince: number | null = null;
  private totalMs = 0;

  observe(ok: boolean, at: number): void {
    if (!ok && this.downSince === null) this.downSince = at;
    if (ok && this.downSince !== null) {
      this.totalMs += at - this.downSince;
      this.downSince = null;
    }
  }

  seconds(at: number): number {
    const open = this.downSince === null ? 0 : at - this.downSince;
    return Math.round((this.totalMs + open) / 100) / 10;
  }
}

export interface DowntimeMeter {
  /** Seconds the gateway did not answer, or null when it did not answer before the change either (nothing to compare). */
  stop(): Promise<number | null>;
}

/**
 * Starts probing. The first probe decides whether there is anything to measure:
 * a gateway that is already down (or absent from the stack) gives null, not the
 * whole change as "downtime".
 */
export async function startDowntimeMeter(
  probe: GatewayProbe,
  clock: Clock,
  intervalMs = 250,
): Promise<DowntimeMeter> {
  const upBefore = await probe();
  const tally = new DowntimeTally();
  tally.observe(true, clock.now());
  const stop = new AbortController();
  const loop = (async () => {
    while (!stop.signal.aborted) {
      const ok = await probe();
      tally.observe(ok, clock.now());
      await clock.sleep(intervalMs, stop.signal);
    }
  })();
  return {
    async stop() {
      stop.abort();
      await loop;
      return upBefore ? tally.seconds(clock.now()) : null;
    },
  };
}
