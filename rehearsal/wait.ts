export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns a value other than undefined; throws after
 * `timeoutMs` with `describe()` (the last observed state) in the message.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  describe: () => string = () => '',
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      const last = describe();
      throw new Error(
        `${what}: not within ${Math.round(timeoutMs / 1000)} s${last ? ` (last seen: ${last})` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}
