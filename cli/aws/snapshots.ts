import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { StatusSnapshot } from '../../shared/status/snapshot.ts';
import { mapAwsError } from '../errors.ts';
import type { AwsClientOptions } from './ec2.ts';

const isoTime = z.iso.datetime({ offset: true });

/**
 * Shape check of the agent's snapshot (shared/status/snapshot.ts). Objects are
 * not strict: a newer agent may add fields, an older CLI still reads it.
 */
export const statusSnapshotSchema = z.object({
  state: z.enum(['starting', 'healthy', 'degraded', 'stopping']),
  project: z.string(),
  version: z.string(),
  generatedAt: isoTime,
  instance: z.string(),
  heartbeatSeconds: z.number().positive(),
  services: z.array(
    z.object({
      name: z.string(),
      containerId: z.string().nullable(),
      state: z.string(),
      health: z.enum(['healthy', 'unhealthy', 'starting', 'none']),
      agentRestarts: z.number().int().nonnegative(),
      dockerRestarts: z.number().int().nonnegative(),
      circuitOpen: z.boolean(),
      lastAction: z.object({ action: z.string(), reason: z.string(), at: z.string() }).nullable(),
    }),
  ),
  host: z.object({
    cpuLoadPercent: z.number().nullable(),
    memory: z.object({ totalBytes: z.number(), usedBytes: z.number() }).nullable(),
    dataVolume: z.object({
      mountPoint: z.string(),
      mounted: z.boolean(),
      device: z.string().nullable(),
      usedPercent: z.number().nullable(),
    }),
    gpus: z.array(
      z.object({
        model: z.string(),
        memoryTotalMiB: z.number().nullable(),
        utilizationPercent: z.number().nullable(),
      }),
    ),
  }),
  docker: z.object({
    connected: z.boolean(),
    apiVersion: z.string().nullable(),
    eventsConnected: z.boolean(),
    lastEventAt: z.string().nullable(),
  }),
  gateway: z.object({ url: z.string(), ok: z.boolean(), checkedAt: z.string().nullable() }),
  s3: z.object({ lastUploadAt: z.string().nullable(), lastError: z.string().nullable() }),
});

// Compile-time guard: the schema's output must stay assignable to the agent's type.
const _contract: (s: z.output<typeof statusSnapshotSchema>) => StatusSnapshot = (s) => s;
void _contract;

/** Raw object access; the seam that unit tests fake and integration tests run against s3rver. */
export interface ObjectReader {
  /** Null when the key does not exist; throws a HostError for everything else. */
  getText(bucket: string, key: string): Promise<{ body: string; lastModified: Date | null } | null>;
}

export function createS3Client(opts: AwsClientOptions, env: NodeJS.ProcessEnv = process.env): S3Client {
  return new S3Client({
    region: opts.region,
    ...(opts.profile ? { profile: opts.profile } : {}),
    // An S3-compatible server set through AWS_ENDPOINT_URL(_S3) rarely has virtual-host buckets.
    forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL),
    maxAttempts: 3,
  });
}

/** Bounds the snapshot read: a status object is a few KiB, anything huge is not ours. */
const MAX_SNAPSHOT_BYTES = 1024 * 1024;

export class S3ObjectReader implements ObjectReader {
  private readonly timeoutMs: number;
  constructor(
    private readonly client: S3Client,
    private readonly opts: { profile?: string | undefined; timeoutMs?: number } = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 20_000;
  }

  async getText(bucket: string, key: string) {
    const resource = `s3://${bucket}/${key}`;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      if ((out.ContentLength ?? 0) > MAX_SNAPSHOT_BYTES) {
        throw Object.assign(new Error(`object is ${out.ContentLength} bytes, not a status snapshot`), {
          name: 'SnapshotTooLarge',
        });
      }
      const body = (await out.Body?.transformToString('utf8')) ?? '';
      return { body, lastModified: out.LastModified ?? null };
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return null;
      throw mapAwsError(err, { action: 's3:GetObject', resource, profile: this.opts.profile });
    }
  }
}

export type SnapshotRead =
  | { kind: 'ok'; snapshot: StatusSnapshot; key: string }
  | { kind: 'missing'; key: string }
  | { kind: 'malformed'; key: string; reason: string };

export function snapshotKey(statusPrefix: string, instanceId: string): string {
  return `${statusPrefix}${instanceId}/latest.json`;
}

/** Parses and shape-checks a snapshot body; never throws. */
export function parseSnapshot(body: string, key: string): SnapshotRead {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    return { kind: 'malformed', key, reason: `not JSON (${(err as Error).message})` };
  }
  const parsed = statusSnapshotSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(root)';
    const more = parsed.error.issues.length > 1 ? ` (+${parsed.error.issues.length - 1} more)` : '';
    return {
      kind: 'malformed',
      key,
      reason: `wrong shape at ${where}: ${issue?.message ?? 'invalid'}${more}`,
    };
  }
  return { kind: 'ok', snapshot: parsed.data, key };
}

export async function readSnapshot(
  reader: ObjectReader,
  bucket: string,
  statusPrefix: string,
  instanceId: string,
): Promise<SnapshotRead> {
  const key = snapshotKey(statusPrefix, instanceId);
  const obj = await reader.getText(bucket, key);
  if (!obj) return { kind: 'missing', key };
  return parseSnapshot(obj.body, key);
}

export type Freshness = { stale: boolean; ageSeconds: number; staleAfterSeconds: number };

/** A snapshot older than two heartbeat intervals is stale: the agent (or the host) is not reporting. */
export function snapshotFreshness(snapshot: StatusSnapshot, nowMs: number): Freshness {
  const ageSeconds = Math.max(0, Math.round((nowMs - Date.parse(snapshot.generatedAt)) / 1000));
  const staleAfterSeconds = 2 * snapshot.heartbeatSeconds;
  return { stale: ageSeconds > staleAfterSeconds, ageSeconds, staleAfterSeconds };
}

/** Services that count as up: healthy, or running without a healthcheck. */
export function serviceIsUp(s: StatusSnapshot['services'][number]): boolean {
  return s.health === 'healthy' || (s.health === 'none' && s.state === 'running');
}
