import { describe, expect, it } from 'vitest';
import { isGoingAway, pollRestart, type Restartable } from '../../../bench/poll-restart.ts';

/** Errors shaped as dockerode raises them for Docker API answers. */
const apiError = (statusCode: number, message: string) =>
  Object.assign(new Error(`(HTTP code ${statusCode}) unexpected - ${message} `), {
    statusCode,
    json: { message },
  });

const failing = (err: unknown): Restartable & { calls: number } => ({
  calls: 0,
  async restart() {
    this.calls++;
    throw err;
  },
});

describe("agent bench's polling baseline: one restart call", () => {
  it('skips a container Docker is removing (the crash of the 5th latency round)', async () => {
    const c = failing(apiError(409, 'container is marked for removal and cannot be started'));
    await expect(pollRestart(c, 3)).resolves.toBe('going away');
    expect(c.calls).toBe(1);
    expect(isGoingAway(apiError(404, 'No such container: 4f2a'))).toBe(true);
    expect(isGoingAway(apiError(409, 'removal of container 4f2a is already in progress'))).toBe(true);
  });

  it('still fails the bench on any other error', async () => {
    await expect(pollRestart(failing(apiError(500, 'driver failed')), 3)).rejects.toThrow(/driver failed/);
    await expect(pollRestart(failing(apiError(409, 'conflict: something else')), 3)).rejects.toThrow();
    await expect(pollRestart(failing(new Error('connect ECONNREFUSED')), 3)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('passes the grace period and reports a restart', async () => {
    const seen: number[] = [];
    await expect(pollRestart({ restart: async ({ t }) => seen.push(t) }, 3)).resolves.toBe('restarted');
    expect(seen).toEqual([3]);
  });
});
