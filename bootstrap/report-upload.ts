/**
 * Uploads the bootstrap's result to `<statusPrefix><instance>/bootstrap.json`,
 * so the operator's laptop sees a failed boot (which step, why) without
 * reaching the host. It must never hold up or fail the boot: every part is
 * bounded by one deadline, and every error ends as a returned reason.
 */
import type { ObjectStore } from '../shared/aws/s3-object-store.ts';
import type { HostConfig } from '../shared/config/schema.ts';
import type { Logger } from '../shared/logger.ts';
import { type BootstrapReport, bootstrapReportKey } from '../shared/status/bootstrap-report.ts';

/** Everything a test may replace; by default the real S3 store and the IMDS instance id. */
export interface ReportUploadDeps {
  store?: (config: HostConfig, timeoutMs: number) => Promise<ObjectStore & { destroy?(): void }>;
  instanceName?: (log: Logger) => Promise<string>;
}

export type UploadResult = { ok: true; url: string } | { ok: false; reason: string };

/** The whole upload, instance lookup included; IMDS on EC2 may take ~15 s to answer at boot. */
export const UPLOAD_DEADLINE_MS = 30_000;

async function defaultStore(config: HostConfig, timeoutMs: number) {
  // Loaded only when a bucket is configured: the SDK is most of a small process's memory.
  const { S3ObjectStore } = await import('../shared/aws/s3-object-store.ts');
  return new S3ObjectStore({
    bucket: config.s3.bucket!,
    region: config.s3.region,
    endpoint: config.s3.endpoint,
    timeoutMs,
  });
}

async function defaultInstanceName(log: Logger): Promise<string> {
  const { resolveInstanceName } = await import('../shared/aws/instance-identity.ts');
  return resolveInstanceName({ logger: log, timeoutMs: 1_000 });
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
  return `${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e?.message || String(err)}${status}`;
}

/** Puts the report into the bucket; resolves within `deadlineMs`, never rejects. */
export async function uploadBootstrapReport(
  config: HostConfig,
  report: BootstrapReport,
  log: Logger,
  deps: ReportUploadDeps = {},
  deadlineMs = UPLOAD_DEADLINE_MS,
): Promise<UploadResult> {
  const bucket = config.s3.bucket;
  if (!bucket) return { ok: false, reason: 's3.bucket is not set' };
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<UploadResult>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve({ ok: false, reason: `gave up after ${deadlineMs / 1000} s` });
    }, deadlineMs);
  });
  const attempt = (async (): Promise<UploadResult> => {
    let store: (ObjectStore & { destroy?(): void }) | undefined;
    try {
      const instance = await (deps.instanceName ?? defaultInstanceName)(log);
      if (abort.signal.aborted) return { ok: false, reason: 'deadline passed' };
      const key = bootstrapReportKey(config.s3.statusPrefix, instance);
      store = await (deps.store ?? defaultStore)(config, deadlineMs);
      const body = `${JSON.stringify({ ...report, instance }, null, 2)}\n`;
      await store.putObject(key, body, 'application/json', { signal: abort.signal });
      return { ok: true, url: `s3://${bucket}/${key}` };
    } catch (err) {
      return { ok: false, reason: describe(err) };
    } finally {
      // Its sockets must not keep the process alive after the boot script is done.
      store?.destroy?.();
    }
  })();
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** Each progress upload's bound: short, so the final result is never held up long behind one. */
export const PROGRESS_UPLOAD_DEADLINE_MS = 5_000;

export interface Coalescer<T> {
  /** Queues `value` to be sent; returns at once. While one is in flight, only the latest waits. */
  offer(value: T): void;
  /** Drops what waits, then resolves once the one in flight (if any) has ended. */
  close(): Promise<void>;
}

/**
 * At most one `send` in flight; what is offered meanwhile replaces what was
 * waiting (the latest wins). `send` must not reject (uploads return reasons).
 */
export function coalesce<T>(send: (value: T) => Promise<void>): Coalescer<T> {
  let inFlight: Promise<void> | null = null;
  let waiting: { value: T } | null = null;
  let closed = false;
  const pump = () => {
    if (inFlight || !waiting || closed) return;
    const { value } = waiting;
    waiting = null;
    inFlight = send(value)
      .catch(() => {})
      .finally(() => {
        inFlight = null;
        pump();
      });
  };
  return {
    offer(value) {
      if (closed) return;
      waiting = { value };
      pump();
    },
    async close() {
      closed = true;
      waiting = null;
      await inFlight;
    },
  };
}

/**
 * Publishes the running bootstrap's progress reports to the same key as its
 * result: coalesced, each upload bounded by `deadlineMs`, a failure logged
 * once (then at debug), never thrown. `close()` before the final upload, so a
 * late progress report cannot overwrite the result.
 */
export function progressPublisher(
  config: HostConfig,
  log: Logger,
  deps: ReportUploadDeps = {},
  deadlineMs = PROGRESS_UPLOAD_DEADLINE_MS,
): Coalescer<BootstrapReport> {
  // The instance name is looked up once (IMDS), then reused by every upload.
  let name: Promise<string> | undefined;
  const lookup = deps.instanceName ?? defaultInstanceName;
  const instanceName = (l: Logger) => {
    name ??= lookup(l).catch((err) => {
      name = undefined; // not cached: the next upload asks again
      throw err;
    });
    return name;
  };
  let warned = false;
  return coalesce(async (report) => {
    const r = await uploadBootstrapReport(config, report, log, { ...deps, instanceName }, deadlineMs);
    if (r.ok || warned) {
      if (!r.ok) log.debug({ reason: r.reason }, 'bootstrap progress upload failed again');
      return;
    }
    warned = true;
    log.warn(
      { reason: r.reason },
      `could not upload the bootstrap progress: ${r.reason} (the run goes on; the result is uploaded at the end)`,
    );
  });
}
