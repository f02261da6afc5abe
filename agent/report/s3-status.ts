/**
 * Writes the status snapshot to S3 as `<prefix><instance>/latest.json`, so the
 * operator CLI can read a host's state without reaching the host.
 *
 * When to upload: on a *meaningful change* at most every `minIntervalMs` (10 s),
 * and a heartbeat every `heartbeatMs` (5 min) regardless. "Meaningful" is a
 * fingerprint of the snapshot without its volatile fields — generatedAt, CPU
 * load, memory in use, GPU utilisation, gateway.checkedAt, docker.lastEventAt,
 * the convergence record's checkedAt (it moves at every desired-state poll), and
 * the s3 block itself (otherwise every upload would cause the next) — with
 * the data volume's used percent rounded to whole percent. So a service turning
 * unhealthy is uploaded within 10 s, while a busy CPU causes no uploads at all.
 *
 * S3 errors never escape: the reporter records lastError, backs off (doubling
 * from minIntervalMs, capped at backoffMaxMs) and keeps going.
 *
 * This file is the scheduler only; the S3 adapter is shared/aws/s3-object-store.ts
 * and the instance name shared/aws/instance-identity.ts.
 */
import type { ObjectStore } from '../../shared/aws/s3-object-store.ts';
import type { Logger } from '../../shared/logger.ts';
import { HEARTBEAT_SECONDS } from '../../shared/status/heartbeat.ts';
import { statusKey } from '../../shared/status/s3-key.ts';
import type { StatusSnapshot } from '../../shared/status/snapshot.ts';
import { Backoff } from '../../shared/time/backoff.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';

export interface S3StatusReporterOptions {
  /** Where the snapshot goes (S3ObjectStore in shared/aws/s3-object-store.ts). */
  store: ObjectStore;
  prefix: string;
  instance: string;
  logger: Logger;
  clock?: Clock;
  minIntervalMs?: number;
  heartbeatMs?: number;
  backoffMaxMs?: number;
}

export interface S3StatusReporter {
  /** Hands over the newest snapshot; uploads follow per the throttle. Never throws. */
  update(s: StatusSnapshot): void;
  /** Uploads the newest snapshot now (ignoring the throttle), giving up after timeoutMs. Never rejects. */
  flush(timeoutMs: number): Promise<void>;
  /** No more uploads; aborts one in flight. */
  stop(): void;
  /** For the snapshot's `s3` block. lastError is cleared by the next successful upload. */
  state(): { lastUploadAt: string | null; lastError: string | null };
  readonly key: string;
}

/** The part of a snapshot whose change is worth an upload (see the file comment). */
export function snapshotFingerprint(s: StatusSnapshot): string {
  const v = s.host.dataVolume;
  return JSON.stringify([
    s.state,
    s.project,
    s.version,
    s.instance,
    s.heartbeatSeconds,
    s.services,
    [v.mountPoint, v.mounted, v.device, v.usedPercent === null ? null : Math.round(v.usedPercent)],
    s.host.memory?.totalBytes ?? null,
    s.host.gpus.map((g) => [g.model, g.memoryTotalMiB]),
    [s.docker.connected, s.docker.apiVersion, s.docker.eventsConnected],
    [s.gateway.url, s.gateway.ok],
    // A finished backup or a maintenance window changes what the operator sees; lease renewals do not.
    s.backup ?? null,
    s.maintenance ? [s.maintenance.reason, s.maintenance.pid, s.maintenance.services] : null,
    // Idle: a change of state or of the stop time, not the minutes counting up in the summary.
    s.idle ? [s.idle.state, s.idle.since, s.idle.stopAt, s.idle.lease?.until ?? null] : null,
    s.shutdown ?? null,
    // Convergence: dalston-aws deploy waits on this object for converged/rolled back; checkedAt (every poll) is volatile.
    s.convergence ? { ...s.convergence, checkedAt: null } : null,
  ]);
}

function describeError(err: unknown): string {
  const e = err as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e?.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
  const msg = e?.message || e?.code || String(err);
  return `${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${msg}${status}`;
}

export function createS3StatusReporter(opts: S3StatusReporterOptions): S3StatusReporter {
  const clock = opts.clock ?? systemClock;
  const minInterval = opts.minIntervalMs ?? 10_000;
  const heartbeat = opts.heartbeatMs ?? HEARTBEAT_SECONDS * 1000;
  // No jitter: one upload per host, nothing to spread out.
  const backoff = new Backoff({ initialMs: minInterval, maxMs: opts.backoffMaxMs ?? 300_000 });
  const log = opts.logger;
  const key = statusKey(opts.prefix, opts.instance);
  const store = opts.store;

  let latest: StatusSnapshot | null = null;
  let uploadedFp: string | null = null;
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let lastSuccessAt: number | null = null;
  let retryAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let lastError: string | null = null;
  let timer: TimerHandle | null = null;
  let timerDue = 0;
  let inflight: { done: Promise<void>; abort: AbortController } | null = null;
  let stopped = false;
  let flushing = false;

  const clearTimer = () => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
  };

  const dueTime = (): number | null => {
    if (!latest) return null;
    if (lastSuccessAt === null && failures === 0) return Math.max(clock.now(), lastAttemptAt + minInterval);
    const dirty = snapshotFingerprint(latest) !== uploadedFp;
    const base = dirty
      ? lastAttemptAt + minInterval
      : (lastSuccessAt ?? Number.NEGATIVE_INFINITY) + heartbeat;
    return Math.max(base, retryAt);
  };

  const schedule = () => {
    if (stopped || flushing || inflight) return;
    const due = dueTime();
    if (due === null) return;
    if (timer !== null && timerDue === due) return;
    clearTimer();
    timerDue = due;
    timer = clock.setTimeout(
      () => {
        timer = null;
        void upload();
      },
      Math.max(0, due - clock.now()),
    );
  };

  const upload = (): Promise<void> => {
    const snapshot = latest;
    if (!snapshot || stopped) return Promise.resolve();
    const fp = snapshotFingerprint(snapshot);
    const abort = new AbortController();
    lastAttemptAt = clock.now();
    const done = store
      .putObject(key, `${JSON.stringify(snapshot)}\n`, 'application/json', { signal: abort.signal })
      .then(
        () => {
          if (failures > 0) log.info({ object: key, failures }, 'S3 status upload works again');
          uploadedFp = fp;
          lastSuccessAt = clock.now();
          failures = 0;
          retryAt = Number.NEGATIVE_INFINITY;
          lastError = null;
          log.debug({ object: key }, 'status snapshot uploaded');
        },
        (err: unknown) => {
          if (stopped) return; // aborted by stop(): not an S3 problem
          failures++;
          const delay = backoff.base(failures - 1);
          retryAt = clock.now() + delay;
          // An abort by flush's timeout says so, rather than the SDK's bare "aborted".
          const reason: unknown = abort.signal.aborted ? abort.signal.reason : null;
          const message = reason instanceof Error ? reason.message : describeError(err);
          // One warning per failure streak (and when the reason changes), not one per retry.
          if (failures === 1 || message !== lastError) {
            log.warn(
              { object: key, error: message, retryInMs: delay },
              'S3 status upload failed; will retry',
            );
          }
          lastError = message;
        },
      )
      .finally(() => {
        if (inflight?.done === done) inflight = null;
        schedule();
      });
    inflight = { done, abort };
    return done;
  };

  return {
    key,
    update(s) {
      if (stopped) return;
      latest = s;
      schedule();
    },
    async flush(timeoutMs) {
      if (stopped || !latest) return;
      flushing = true;
      clearTimer();
      let t: TimerHandle | null = null;
      const deadline = new Promise<'timeout'>((resolve) => {
        t = clock.setTimeout(() => resolve('timeout'), timeoutMs);
      });
      let timedOut = false;
      try {
        const run = (async () => {
          if (inflight) await inflight.done;
          // After a timeout the caller has moved on: start nothing new behind its back.
          if (!stopped && !timedOut) await upload();
        })();
        if ((await Promise.race([run, deadline])) === 'timeout') {
          timedOut = true;
          inflight?.abort.abort(new Error(`final upload did not finish within ${timeoutMs} ms`));
          log.warn({ object: key, timeoutMs }, 'S3 status flush timed out');
          // Let the aborted upload record its outcome before returning.
          await new Promise<void>((r) => setImmediate(r));
        }
      } finally {
        clock.clearTimeout(t);
        flushing = false;
        schedule();
      }
    },
    stop() {
      stopped = true;
      clearTimer();
      inflight?.abort.abort();
    },
    state() {
      return {
        lastUploadAt: lastSuccessAt === null ? null : new Date(lastSuccessAt).toISOString(),
        lastError,
      };
    },
  };
}
