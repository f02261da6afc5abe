/**
 * The restart call of bench/agent.bench.ts's polling baseline (what autoheal
 * does every 5 s). A container the loop listed as unhealthy can be on its way
 * out by the time the call lands (Docker answers "marked for removal" or "No
 * such container"): that is a race in the baseline, not a failure, so the
 * loop skips it and lists again at its next poll instead of crashing the bench.
 */

/** What the loop needs of a container (dockerode's Container has it). */
export interface Restartable {
  restart(opts: { t: number }): Promise<unknown>;
}

const GOING_AWAY = /marked for removal|no such container|removal of container .* is already in progress/i;

/** Pure: whether a Docker API error says the container is being removed or already gone. */
export function isGoingAway(err: unknown): boolean {
  const e = err as { statusCode?: number; message?: string; json?: { message?: string } } | null;
  if (!e || (e.statusCode !== 404 && e.statusCode !== 409)) return false;
  return GOING_AWAY.test(`${e.json?.message ?? ''} ${e.message ?? ''}`);
}

/** One restart call; any other error still ends the bench. */
export async function pollRestart(c: Restartable, graceSeconds: number): Promise<'restarted' | 'going away'> {
  try {
    await c.restart({ t: graceSeconds });
    return 'restarted';
  } catch (err) {
    if (isGoingAway(err)) return 'going away';
    throw err;
  }
}
