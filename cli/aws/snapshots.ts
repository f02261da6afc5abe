import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { isNotFound } from '../../shared/aws/s3-errors.ts';
import { HostError } from '../../shared/errors.ts';
import { statusKey } from '../../shared/status/s3-key.ts';
import { parseSnapshot as parseSnapshotBody, type StatusSnapshot } from '../../shared/status/snapshot.ts';
import { mapAwsError } from '../errors.ts';
import type { AwsClientOptions } from './ec2.ts';

/**
 * Raw object access; the seam that unit tests fake and integration tests run against s3rver.
 * The CLI writes only its own small objects beside the snapshot (the keep-awake lease,
 * the record of a `down`).
 */
export interface ObjectReader {
  /** Null when the key does not exist; throws a HostError for everything else. */
  getText(bucket: string, key: string): Promise<{ body: string; lastModified: Date | null } | null>;
  /** Every object under `prefix` (all pages). */
  list(bucket: string, prefix: string): Promise<ListedObject[]>;
  /** An object's user metadata (`x-amz-meta-*`); null when the key does not exist. */
  metadata(bucket: string, key: string): Promise<Record<string, string> | null>;
  /** Writes a small JSON object; throws a HostError naming s3:PutObject on failure. */
  putText(bucket: string, key: string, body: string): Promise<void>;
  /** Deletes an object (absent is fine); throws a HostError naming s3:DeleteObject on failure. */
  delete(bucket: string, key: string): Promise<void>;
  /** Like getText, with the version that was read (for a later conditional write). */
  getVersioned(bucket: string, key: string): Promise<{ body: string; version: ObjectVersion } | null>;
  /** The object's current version (HEAD); null when the key does not exist. */
  headVersion(bucket: string, key: string): Promise<ObjectVersion | null>;
  /**
   * Writes a small JSON object only if it is still the version `ifMatch` names
   * (the server refuses otherwise: a HostError with exit 75); returns the new version.
   */
  putTextIfMatch(bucket: string, key: string, body: string, ifMatch: ObjectVersion): Promise<ObjectVersion>;
}

/** Which version of an object was read or written: S3's ETag (quoted, as S3 sends it) and VersionId (versioned buckets). */
export interface ObjectVersion {
  etag: string | null;
  versionId: string | null;
}

/** ETags compared without their quotes (`"abc"` and `abc` are the same version). */
export function sameEtag(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  return a.replace(/"/g, '') === b.replace(/"/g, '');
}

/** The one-line message of a conditional write that lost the race. */
export function changedSinceRead(bucket: string, key: string): HostError {
  return new HostError(
    'busy',
    `s3://${bucket}/${key} changed since it was read (a concurrent \`terraform apply\` or deploy?): nothing written; run the command again`,
  );
}

export interface ListedObject {
  key: string;
  sizeBytes: number;
  lastModified: Date | null;
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

/** Bounds a small-object read: a status snapshot or the desired state is a few KiB, anything huge is not ours. */
const MAX_SMALL_OBJECT_BYTES = 1024 * 1024;

export class S3ObjectReader implements ObjectReader {
  private readonly timeoutMs: number;
  constructor(
    private readonly client: S3Client,
    private readonly opts: { profile?: string | undefined; timeoutMs?: number } = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 20_000;
  }

  async getText(bucket: string, key: string) {
    const got = await this.getSmall(bucket, key);
    return got && { body: got.body, lastModified: got.lastModified };
  }

  async getVersioned(bucket: string, key: string) {
    const got = await this.getSmall(bucket, key);
    return got && { body: got.body, version: got.version };
  }

  /** A small JSON object (status snapshot, desired state, lease) with its version; null when absent. */
  private async getSmall(bucket: string, key: string) {
    const resource = `s3://${bucket}/${key}`;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      if ((out.ContentLength ?? 0) > MAX_SMALL_OBJECT_BYTES) {
        throw Object.assign(
          new Error(`object is ${out.ContentLength} bytes, too large for a small JSON object`),
          { name: 'ObjectTooLarge' },
        );
      }
      const body = (await out.Body?.transformToString('utf8')) ?? '';
      return {
        body,
        lastModified: out.LastModified ?? null,
        version: { etag: out.ETag ?? null, versionId: out.VersionId ?? null },
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw mapAwsError(err, { action: 's3:GetObject', resource, profile: this.opts.profile });
    }
  }
  async list(bucket: string, prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
          { abortSignal: AbortSignal.timeout(this.timeoutMs) },
        );
        for (const o of page.Contents ?? []) {
          if (o.Key) out.push({ key: o.Key, sizeBytes: o.Size ?? 0, lastModified: o.LastModified ?? null });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw mapAwsError(err, {
        action: 's3:ListBucket',
        resource: `s3://${bucket}/${prefix}`,
        profile: this.opts.profile,
      });
    }
    return out;
  }

  async metadata(bucket: string, key: string): Promise<Record<string, string> | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      return out.Metadata ?? {};
    } catch (err) {
      if (isNotFound(err)) return null;
      throw mapAwsError(err, {
        action: 's3:GetObject',
        resource: `s3://${bucket}/${key}`,
        profile: this.opts.profile,
      });
    }
  }

  async putText(bucket: string, key: string, body: string): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
    } catch (err) {
      throw mapAwsError(err, {
        action: 's3:PutObject',
        resource: `s3://${bucket}/${key}`,
        profile: this.opts.profile,
      });
    }
  }

  async headVersion(bucket: string, key: string): Promise<ObjectVersion | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      return { etag: out.ETag ?? null, versionId: out.VersionId ?? null };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw mapAwsError(err, {
        action: 's3:GetObject',
        resource: `s3://${bucket}/${key}`,
        profile: this.opts.profile,
      });
    }
  }

  async putTextIfMatch(bucket: string, key: string, body: string, ifMatch: ObjectVersion) {
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          // S3 refuses the write (412) when the object is no longer this one.
          ...(ifMatch.etag ? { IfMatch: ifMatch.etag } : {}),
        }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
      return { etag: out.ETag ?? null, versionId: out.VersionId ?? null };
    } catch (err) {
      const name = (err as { name?: string }).name;
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // 409 ConditionalRequestConflict: another conditional write to the key was in flight.
      if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 412) {
        throw changedSinceRead(bucket, key);
      }
      throw mapAwsError(err, {
        action: 's3:PutObject',
        resource: `s3://${bucket}/${key}`,
        profile: this.opts.profile,
      });
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw mapAwsError(err, {
        action: 's3:DeleteObject',
        resource: `s3://${bucket}/${key}`,
        profile: this.opts.profile,
      });
    }
  }
}

export type SnapshotRead =
  | { kind: 'ok'; snapshot: StatusSnapshot; key: string }
  | { kind: 'missing'; key: string }
  | { kind: 'malformed'; key: string; reason: string };

/** Parses and shape-checks a snapshot body against the shared contract; never throws. */
export function parseSnapshot(body: string, key: string): SnapshotRead {
  const r = parseSnapshotBody(body);
  return r.kind === 'ok'
    ? { kind: 'ok', snapshot: r.snapshot, key }
    : { kind: 'malformed', key, reason: r.reason };
}

export async function readSnapshot(
  reader: ObjectReader,
  bucket: string,
  statusPrefix: string,
  instanceId: string,
): Promise<SnapshotRead> {
  const key = statusKey(statusPrefix, instanceId);
  const obj = await reader.getText(bucket, key);
  if (!obj) return { kind: 'missing', key };
  return parseSnapshot(obj.body, key);
}
