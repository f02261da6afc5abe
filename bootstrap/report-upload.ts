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
