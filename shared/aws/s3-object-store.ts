/**
 * Objects in one S3 bucket: a small interface the agent's status uploads (and,
 * later, backups) are written against, and its @aws-sdk/client-s3
 * implementation. Importing this module loads the AWS SDK: callers that run
 * without a bucket import it lazily (see agent/command.ts).
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

export interface ObjectStore {
  putObject(
    key: string,
    body: string | Uint8Array,
    contentType: string,
    opts?: { signal?: AbortSignal },
  ): Promise<void>;
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
      maxAttempts: opts.maxAttempts ?? 2,
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

  destroy(): void {
    this.client.destroy();
  }
}
