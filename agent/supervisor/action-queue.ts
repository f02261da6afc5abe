/**
 * The single queue every healing action goes through: one at a time, so two
 * actions never race on the daemon, and shutdown can drop what is pending and
 * abort what is running.
 */
export type ActionRun = (signal: AbortSignal) => Promise<void>;

export class ActionQueue {
  private readonly pending: Array<{ key: string; run: ActionRun }> = [];
  private current: { key: string; ac: AbortController } | null = null;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly onError: (key: string, err: unknown) => void) {}

  /** False when closed or an action with this key is already queued or running. */
  enqueue(key: string, run: ActionRun): boolean {
    if (this.closed || this.has(key)) return false;
    this.pending.push({ key, run });
    if (!this.current) void this.drain();
    return true;
  }

  /** Like enqueue, but resolves (or rejects) when the action has run; rejects at once if refused. */
  run(key: string, run: ActionRun): Promise<void> {
    return new Promise((resolve, reject) => {
      const ok = this.enqueue(key, async (signal) => {
        try {
          await run(signal);
          resolve();
        } catch (err) {
          reject(err);
        }
      });
      if (!ok) reject(new Error(this.closed ? 'action queue is closed' : `action ${key} is already queued`));
    });
  }

  has(key: string): boolean {
    return this.current?.key === key || this.pending.some((p) => p.key === key);
  }

  keys(): Set<string> {
    const out = new Set(this.pending.map((p) => p.key));
    if (this.current) out.add(this.current.key);
    return out;
  }

  get size(): number {
    return this.pending.length + (this.current ? 1 : 0);
  }

  /** Drops pending actions and aborts the running one; nothing is accepted after. */
  close(): void {
    this.closed = true;
    this.pending.length = 0;
    this.current?.ac.abort();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    for (let next = this.pending.shift(); next; next = this.pending.shift()) {
      const ac = new AbortController();
      this.current = { key: next.key, ac };
      try {
        await next.run(ac.signal);
      } catch (err) {
        if (!ac.signal.aborted) this.onError(next.key, err);
      } finally {
        this.current = null;
      }
    }
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
