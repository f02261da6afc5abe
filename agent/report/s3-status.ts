/**
 * Writes the status snapshot to S3 as `<prefix><instance>/latest.json`, so the
 * operator CLI can read a host's state without reaching the host.
 *
 * When to upload: on a *meaningful change* at most every `minIntervalMs` (10 s),
 * and a heartbeat every `heartbeatMs` (5 min) regardless. "Meaningful" is a
 * fingerprint of the snapshot without its volatile fields — generatedAt, CPU
 * load, memory in use, GPU utilisation, gateway.checkedAt, docker.lastEventAt,
 * and the s3 block itself (otherwise every upload would cause the next) — with
 * the data volume's used percent rounded to whole percent. So a service turning
 * unhealthy is uploaded within 10 s, while a busy CPU causes no uploads at all.
 *
 * S3 errors never escape: the reporter records lastError, backs off (doubling
 * from minIntervalMs, capped at backoffMaxMs) and keeps going.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { httpRequest } from '../../shared/http-request.ts';
import type { Logger } from '../../shared/logger.ts';
import { HEARTBEAT_SECONDS } from '../../shared/status/heartbeat.ts';
import { statusKey } from '../../shared/status/s3-key.ts';
import type { StatusSnapshot } from '../../shared/status/snapshot.ts';

export interface ObjectStore {
  putObject(key: string, body: string, contentType: string, opts?: { signal?: AbortSignal }): Promise<void>;
}

export interface S3StoreOptions {
  bucket: string;
  region?: string;
  /** An S3-compatible server; path-style addressing is used then. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Per-call timeout. */
  timeoutMs?: number;
}

/** The @aws-sdk/client-s3 implementation of ObjectStore. */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly timeoutMs: number;

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    const region =
      opts.region ??
      process.env.AWS_REGION ??
      process.env.AWS_DEFAULT_REGION ??
      (opts.endpoint ? 'us-east-1' : undefined);
    this.client = new S3Client({
      region,
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // The reporter has its own backoff; one SDK retry covers a dropped connection.
      maxAttempts: 2,
    });
  }

  async putObject(
    key: string,
    body: string,
    contentType: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const abortSignal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
      { abortSignal },
    );
  }

  destroy(): void {
    this.client.destroy();
  }
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // unref: a pending upload timer must not keep the process alive at exit.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface S3StatusReporterOptions {
  store?: ObjectStore;
  /** Used when no `store` is given. */
  s3?: S3StoreOptions;
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
  const backoffMax = opts.backoffMaxMs ?? 300_000;
  const log = opts.logger;
  const key = statusKey(opts.prefix, opts.instance);
  let store: ObjectStore;
  if (opts.store) store = opts.store;
  else if (opts.s3) store = new S3ObjectStore(opts.s3);
  else throw new Error('createS3StatusReporter needs a store or s3 options');

  let latest: StatusSnapshot | null = null;
  let uploadedFp: string | null = null;
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let lastSuccessAt: number | null = null;
  let retryAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let lastError: string | null = null;
  let timer: unknown = null;
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
          const delay = Math.min(minInterval * 2 ** (failures - 1), backoffMax);
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
      let t: unknown = null;
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

/**
 * The instance's name for the S3 key: its EC2 instance id through IMDSv2
 * (PUT /latest/api/token, then GET /latest/meta-data/instance-id with the
 * token), or os.hostname() when not on EC2. Each lookup is bounded by
 * `timeoutMs` so a non-EC2 host falls back quickly. On EC2 (DMI vendor
 * "Amazon EC2") a failed lookup is retried, then the DMI asset tag (the
 * instance id on Nitro) is used: the operator CLI finds the heartbeat under
 * the instance id, so falling back to a hostname there would hide it.
 */
export async function resolveInstanceName(
  opts: {
    imdsEndpoint?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    hostname?: () => string;
    logger?: Logger;
    /** Reads a DMI attribute (`sys_vendor`, `board_asset_tag`); '' when absent. */
    readDmi?: (name: string) => Promise<string>;
    attemptsOnEc2?: number;
    retryDelayMs?: number;
  } = {},
): Promise<string> {
  const env = opts.env ?? process.env;
  const hostname = opts.hostname ?? os.hostname;
  const readDmi =
    opts.readDmi ??
    ((name: string) => readFile(`/sys/devices/virtual/dmi/id/${name}`, 'utf8').catch(() => ''));
  const fallback = (reason: string) => {
    opts.logger?.info({ reason }, 'not using an EC2 instance id; naming this host by its hostname');
    return hostname();
  };
  if ((env.AWS_EC2_METADATA_DISABLED ?? '').toLowerCase() === 'true')
    return fallback('AWS_EC2_METADATA_DISABLED');
  const base = (
    opts.imdsEndpoint ??
    env.AWS_EC2_METADATA_SERVICE_ENDPOINT ??
    'http://169.254.169.254'
  ).replace(/\/+$/, '');
  const onEc2 = /Amazon EC2/i.test(await readDmi('sys_vendor'));
  const attempts = onEc2 ? (opts.attemptsOnEc2 ?? 5) : 1;
  let reason = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const r = await imdsInstanceId(base, opts.timeoutMs ?? 1000);
    if ('id' in r) return r.id;
    reason = r.reason;
    if (attempt < attempts) await new Promise((ok) => setTimeout(ok, (opts.retryDelayMs ?? 1000) * attempt));
  }
  if (onEc2) {
    const tag = (await readDmi('board_asset_tag')).trim();
    if (/^i-[0-9a-f]{8,17}$/.test(tag)) {
      opts.logger?.warn({ reason }, 'IMDS did not answer; using the instance id from the DMI asset tag');
      return tag;
    }
  }
  return fallback(reason);
}

async function imdsInstanceId(base: string, timeoutMs: number): Promise<{ id: string } | { reason: string }> {
  try {
    const token = await httpRequest(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
      timeoutMs,
    });
    if (token.status !== 200) return { reason: `IMDS token request answered HTTP ${token.status}` };
    const idRes = await httpRequest(`${base}/latest/meta-data/instance-id`, {
      headers: { 'X-aws-ec2-metadata-token': token.body.trim() },
      timeoutMs,
    });
    if (idRes.status !== 200) return { reason: `IMDS instance-id answered HTTP ${idRes.status}` };
    const id = idRes.body.trim();
    if (!/^i-[0-9a-f]{8,17}$/.test(id))
      return { reason: `IMDS returned an unexpected instance id '${id.slice(0, 40)}'` };
    return { id };
  } catch (err) {
    return { reason: `IMDS not reachable: ${(err as Error).message}` };
  }
}
