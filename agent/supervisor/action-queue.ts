/**
 * The queue every action goes through. Actions on unrelated keys run at the
 * same time (up to `concurrency`), so three independent services failing
 * together are healed together instead of each waiting for the others' stop
 * timeouts; two related keys (the same service, or one depending on the other,
 * as `related` says) never run at once, and run in the order they were queued,
 * so a dependent still waits for what it depends on. Shutdown drops what is
 * pending and aborts what is running.
 */
export type ActionRun = (signal: AbortSignal) => Promise<void>;

export interface ActionQueueOptions {
  /** At most this many actions run at once (default 1: one after another). */
  concurrency?: number;
  /** True when actions on `a` and `b` must not overlap; a key is always related to itself. Default: all related. */
  related?: (a: string, b: string) => boolean;
}

export class ActionQueue {
  private readonly pending: Array<{ key: string; run: ActionRun }> = [];
  private readonly running = new Map<string, AbortController>();
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private readonly concurrency: number;
  private readonly related: (a: string, b: string) => boolean;

  constructor(
    private readonly onError: (key: string, err: unknown) => void,
    opts: ActionQueueOptions = {},
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    const related = opts.related ?? (() => true);
    this.related = (a, b) => a === b || related(a, b);
  }

  /** False when closed or an action with this key is already queued or running. */
  enqueue(key: string, run: ActionRun): boolean {
    if (this.closed || this.has(key)) return false;
    this.pending.push({ key, run });
    this.pump();
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
    return this.running.has(key) || this.pending.some((p) => p.key === key);
  }

  keys(): Set<string> {
    const out = new Set(this.pending.map((p) => p.key));
    for (const k of this.running.keys()) out.add(k);
    return out;
  }

  /** Keys whose action is running now (not just queued). */
  runningKeys(): Set<string> {
    return new Set(this.running.keys());
  }

  get size(): number {
    return this.pending.length + this.running.size;
  }

  /** Drops pending actions and aborts the running ones; nothing is accepted after. */
  close(): void {
    this.closed = true;
    this.pending.length = 0;
    for (const ac of this.running.values()) ac.abort();
    this.settleIdle();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Starts every pending action that may start: a free slot, no related action
   * running, and no related action queued before it (FIFO among related keys).
   */
  private pump(): void {
    for (let i = 0; i < this.pending.length && this.running.size < this.concurrency; ) {
      const next = this.pending[i]!;
      const blocked =
        [...this.running.keys()].some((k) => this.related(k, next.key)) ||
        this.pending.slice(0, i).some((p) => this.related(p.key, next.key));
      if (blocked) {
        i++;
        continue;
      }
      this.pending.splice(i, 1);
      this.start(next.key, next.run);
    }
  }

  private start(key: string, run: ActionRun): void {
    const ac = new AbortController();
    this.running.set(key, ac);
    void (async () => {
      try {
        await run(ac.signal);
      } catch (err) {
        if (!ac.signal.aborted) this.onError(key, err);
      } finally {
        this.running.delete(key);
        if (!this.closed) this.pump();
        this.settleIdle();
      }
    })();
  }

  private settleIdle(): void {
    if (this.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
