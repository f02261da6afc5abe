import { type FSWatcher, watch } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { readConvergenceRecord, statusOf } from '../../shared/desired/convergence-record.ts';
import type { ConvergenceStatus } from '../../shared/desired/convergence-status.ts';
import type { HostVersions } from '../../shared/desired/desired-state.ts';
import type { Logger } from '../../shared/logger.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';

export interface ConvergenceWatchOptions {
  /** `<agent.stateDir>/convergence.json`, written by `dalston-host sync`. */
  file: string;
  /** What this agent runs: its own release and host.json's Dalston versions when it started. */
  running: HostVersions;
  logger: Logger;
  clock?: Clock;
  refreshMs?: number;
}

/** Pure: the record as the agent reports it; the release is always the agent's own (what runs). */
export function reportedConvergence(
  record: ConvergenceStatus | null,
  running: HostVersions,
  problem: string | null = null,
): ConvergenceStatus {
  if (!record) {
    return {
      state: 'unknown',
      running,
      desired: null,
      desiredVersion: null,
      checkedAt: null,
      step: null,
      summary: problem ?? 'the desired state has not been synced on this host yet',
      lastResult: null,
      problem,
    };
  }
  return { ...record, running: { ...record.running, release: running.release } };
}

/**
 * The sync record as the agent reports it in `/status`, the heartbeat,
 * Prometheus and its status line: read at start, on a change notice for the
 * file (inotify on its directory) and every `refreshMs`.
 */
export class ConvergenceWatch {
  private current: ConvergenceStatus;
  private readonly clock: Clock;
  private watcher: FSWatcher | null = null;
  private timer: TimerHandle | null = null;
  private stopped = false;

  constructor(private readonly o: ConvergenceWatchOptions) {
    this.clock = o.clock ?? systemClock;
    this.current = reportedConvergence(null, o.running);
  }

  status(): ConvergenceStatus {
    return this.current;
  }

  async refresh(): Promise<boolean> {
    const r = await readConvergenceRecord(this.o.file);
    const before = JSON.stringify(this.current);
    this.current =
      r.kind === 'ok'
        ? reportedConvergence(statusOf(r.record), this.o.running)
        : reportedConvergence(null, this.o.running, r.kind === 'unreadable' ? r.reason : null);
    return JSON.stringify(this.current) !== before;
  }

  async start(onChange: () => void): Promise<void> {
    await this.refresh();
    const changed = () =>
      void this.refresh().then(
        (c) => c && onChange(),
        () => {},
      );
    await mkdir(dirname(this.o.file), { recursive: true, mode: 0o755 }).catch(() => {});
    try {
      const name = basename(this.o.file);
      this.watcher = watch(dirname(this.o.file), { persistent: false }, (_e, file) => {
        // Atomic writes rename a temp file over the target: the notice may name either.
        if (!this.stopped && (file === null || file.includes(name))) changed();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'not watching the convergence record');
    }
    const every = this.o.refreshMs ?? 30_000;
    const again = () => {
      if (this.stopped) return;
      changed();
      this.timer = this.clock.setTimeout(again, every);
    };
    this.timer = this.clock.setTimeout(again, every);
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
