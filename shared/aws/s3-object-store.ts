/**
 * Objects in one S3 bucket: the small interfaces the agent's status uploads
 * (ObjectStore) and the Postgres backups (LargeObjectStore) are written
 * against, and their @aws-sdk/client-s3 implementation. Importing this module
 * loads the AWS SDK: callers that run without a bucket import it lazily (see
 * agent/command.ts); @aws-sdk/lib-storage is loaded only by a streamed upload.
 */
import type { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { isNotFound, isNotModified } from './s3-errors.ts';

export interface ObjectStore {
  putObject(
    key: string,
    body: string | Uint8Array,
    contentType: string,
    opts?: { signal?: AbortSignal },
  ): Promise<void>;
}

/** What HeadObject tells about an object. */
export interface ObjectHead {
  key: string;
  etag: string;
  sizeBytes: number;
  lastModified: Date | null;
  contentType: string | null;
  /** User metadata (`x-amz-meta-*`), keys lower-case. */
  metadata: Record<string, string>;
}

/** A small object read with a conditional GET (see S3ObjectStore.getIfChanged). */
export type ConditionalRead =
  | { kind: 'not-modified' }
  | { kind: 'missing' }
  | { kind: 'ok'; body: string; etag: string; versionId: string | null };

export interface ListedObject {
  key: string;
  sizeBytes: number;
  lastModified: Date | null;
}

/**
 * Large objects, streamed both ways with bounded memory: what backups and
 * restores need. Nothing here deletes (the instance role may not under backups/).
 */
export interface UploadStreamOptions {
  metadata: Record<string, string>;
  contentType: string;
  partSizeBytes: number;
  queueSize?: number;
}

export interface LargeObjectStore {
  /**
   * Streams `body` to `key` as a multipart upload (one PUT when it fits in one
   * part) with `metadata`; refuses to replace an existing object where the
   * server supports conditional writes. A body that fails aborts the upload:
   * no object appears. Resolves once the object is complete.
   */
  uploadStream(key: string, body: Readable, opts: UploadStreamOptions): Promise<void>;
  /**
   * Replaces the object's metadata, keeping its bytes (a copy onto itself; a
   * multipart copy above CopyObject's 5 GiB limit). Fails if the object is no
   * longer the one with `etag`.
   */
  replaceMetadata(
    key: string,
    opts: { etag: string; sizeBytes: number; metadata: Record<string, string>; contentType: string },
  ): Promise<void>;
  /** Null when there is no such object. */
  head(key: string): Promise<ObjectHead | null>;
  /** Every object under `prefix` (all pages). */
  list(prefix: string): Promise<ListedObject[]>;
  /** The object's bytes as a stream; with `ifMatch` the server refuses any other version. */
  getStream(key: string, opts?: { ifMatch?: string }): Promise<{ body: Readable; etag: string | null }>;
}

/** CopyObject's limit; larger objects are copied part by part (UploadPartCopy). */
export const COPY_OBJECT_MAX_BYTES = 5 * 1024 ** 3;
/** Part size of a multipart copy (UploadPartCopy allows up to 5 GiB per part). */
export const COPY_PART_BYTES = 1024 ** 3;

/** Byte ranges (inclusive, as HTTP Range says) of a multipart copy: pure. */
export function copyRanges(sizeBytes: number, partBytes = COPY_PART_BYTES): string[] {
  const out: string[] = [];
  for (let start = 0; start < sizeBytes; start += partBytes) {
    out.push(`bytes=${start}-${Math.min(sizeBytes, start + partBytes) - 1}`);
  }
  return out;
}

/** `bucket/key` for x-amz-copy-source: each path segment URL-encoded. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export interface S3StoreOptions {
  bucket: string;
  region?: string;
  /** An S3-compatible server; path-style addressing is used then. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Per-call timeout (default 10 s). */
  timeoutMs?: number;
  /** SDK attempts per call (default 2: one retry covers a dropped connection; callers keep their own backoff). */
  maxAttempts?: number;
  /**
   * Socket inactivity limit of each request, for streamed calls that have no
   * overall deadline (uploads and downloads of large objects); off by default.
   */
  requestTimeoutMs?: number;
  /** A ready client (tests); the options above that configure one are then ignored. */
  client?: S3Client;
}

/** The @aws-sdk/client-s3 implementation of ObjectStore. */
export class S3ObjectStore implements ObjectStore, LargeObjectStore {
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
    this.client =
      opts.client ??
      new S3Client({
        region,
        ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
        ...(opts.credentials ? { credentials: opts.credentials } : {}),
        maxAttempts: opts.maxAttempts ?? 2,
        ...(opts.requestTimeoutMs
          ? { requestHandler: { requestTimeout: opts.requestTimeoutMs, connectionTimeout: 10_000 } }
          : {}),
      });
  }

  async putObject(
    key: string,
    body: string | Uint8Array,
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

  async uploadStream(key: string, body: Readable, opts: UploadStreamOptions): Promise<void> {
    const { Upload } = await import('@aws-sdk/lib-storage');
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: opts.contentType,
        Metadata: opts.metadata,
        // S3 refuses to complete the upload (or the single PUT) when the key exists already.
        IfNoneMatch: '*',
      },
      partSize: opts.partSizeBytes,
      // Two parts in flight: memory stays at a few parts whatever the dump's size.
      queueSize: opts.queueSize ?? 2,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async replaceMetadata(
    key: string,
    opts: { etag: string; sizeBytes: number; metadata: Record<string, string>; contentType: string },
  ): Promise<void> {
    const source = copySource(this.bucket, key);
    if (opts.sizeBytes <= COPY_OBJECT_MAX_BYTES) {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: key,
          CopySource: source,
          CopySourceIfMatch: opts.etag,
          MetadataDirective: 'REPLACE',
          Metadata: opts.metadata,
          ContentType: opts.contentType,
        }),
      );
      return;
    }
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        Metadata: opts.metadata,
        ContentType: opts.contentType,
      }),
    );
    const parts: Array<{ ETag: string; PartNumber: number }> = [];
    for (const [i, range] of copyRanges(opts.sizeBytes).entries()) {
      const r = await this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId,
          PartNumber: i + 1,
          CopySource: source,
          CopySourceRange: range,
          CopySourceIfMatch: opts.etag,
        }),
      );
      const etag = r.CopyPartResult?.ETag;
      if (!etag) throw new Error(`UploadPartCopy of part ${i + 1} of ${key} returned no ETag`);
      parts.push({ ETag: etag, PartNumber: i + 1 });
    }
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  }

  async head(key: string): Promise<ObjectHead | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      return {
        key,
        etag: r.ETag ?? '',
        sizeBytes: r.ContentLength ?? 0,
        lastModified: r.LastModified ?? null,
        contentType: r.ContentType ?? null,
        metadata: r.Metadata ?? {},
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async list(prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
      for (const o of r.Contents ?? []) {
        if (o.Key) out.push({ key: o.Key, sizeBytes: o.Size ?? 0, lastModified: o.LastModified ?? null });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async getStream(
    key: string,
    opts: { ifMatch?: string } = {},
  ): Promise<{ body: Readable; etag: string | null }> {
    const r = await this.client.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ...(opts.ifMatch ? { IfMatch: opts.ifMatch } : {}),
      }),
    );
    if (!r.Body) throw new Error(`GetObject ${key}: no body`);
    return { body: r.Body as Readable, etag: r.ETag ?? null };
  }

  /**
   * A small text object, unless its ETag is still `etag` (`If-None-Match`: S3 answers 304 and
   * sends no body, so a poll of an unchanged object costs one request and no download).
   */
  async getIfChanged(key: string, etag: string | null): Promise<ConditionalRead> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(etag ? { IfNoneMatch: etag } : {}) }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
      const body = (await r.Body?.transformToString('utf8')) ?? '';
      return { kind: 'ok', body, etag: r.ETag ?? '', versionId: r.VersionId ?? null };
    } catch (err) {
      if (isNotModified(err)) return { kind: 'not-modified' };
      if (isNotFound(err)) return { kind: 'missing' };
      throw err;
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
