/**
 * Clean-up actions run in reverse order of registration (machine before its
 * loop device before the run directory), once, whether the run passed, failed
 * or was interrupted. A failing action is reported and the rest still run.
 */
export class Cleanup {
  private readonly actions: Array<{ what: string; fn: () => Promise<void> }> = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: (line: string) => void) {}

  add(what: string, fn: () => Promise<void>): () => void {
    const entry = { what, fn };
    this.actions.push(entry);
    // The returned function drops the action once the resource is released early.
    return () => {
      const i = this.actions.indexOf(entry);
      if (i >= 0) this.actions.splice(i, 1);
    };
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.actions.length > 0) {
        const a = this.actions.pop()!;
        try {
          await a.fn();
        } catch (err) {
          this.log(`clean-up: ${a.what} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return this.running;
  }

  /** Runs the clean-up on SIGINT/SIGTERM/SIGHUP, then exits 130. */
  trapSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        this.log(`${sig}: cleaning up before exit`);
        void this.run().finally(() => process.exit(130));
      });
    }
  }
}
