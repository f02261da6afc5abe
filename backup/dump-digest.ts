import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Every `pg_dump -Fc` archive starts with these bytes. */
export const PG_DUMP_MAGIC = Buffer.from('PGDMP');

/**
 * Passes a dump through unchanged while counting its bytes and hashing it
 * (SHA-256). With `requireMagic` it fails as soon as the first bytes are not a
 * custom-format archive, so an error message on stdout is never uploaded as a
 * backup. `onBytes` reports progress.
 */
export class DumpDigest extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private head = Buffer.alloc(0);
  private hex: string | null = null;

  constructor(private readonly opts: { requireMagic?: boolean; onBytes?: (total: number) => void } = {}) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.opts.requireMagic && this.head.length < PG_DUMP_MAGIC.length) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, PG_DUMP_MAGIC.length - this.head.length)]);
      if (!PG_DUMP_MAGIC.subarray(0, this.head.length).equals(this.head)) {
        cb(
          new Error(
            `not a pg_dump custom-format archive (starts with ${JSON.stringify(this.head.toString('latin1'))})`,
          ),
        );
        return;
      }
    }
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.opts.onBytes?.(this.bytes);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.opts.requireMagic && this.head.length < PG_DUMP_MAGIC.length) {
      cb(
        new Error(this.bytes === 0 ? 'the dump is empty' : `the dump is ${this.bytes} bytes, not an archive`),
      );
      return;
    }
    cb();
  }

  /** The SHA-256 of everything that passed (hex); call once the stream has ended. */
  sha256(): string {
    this.hex ??= this.hash.digest('hex');
    return this.hex;
  }
}

/**
 * Passes a dump through while hashing it, but holds its last chunk back until
 * the end proves the bytes are the ones the backup's metadata promises (size
 * and SHA-256). A reader fed through it (pg_restore on stdin, inside one
 * transaction) therefore never sees the end of a dump that does not match: the
 * stream fails instead, pg_restore stops short and its transaction rolls back.
 */
export class VerifiedDump extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private held: Buffer | null = null;

  constructor(
    private readonly expected: { sha256: string; sizeBytes: number },
    private readonly onBytes?: (total: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.onBytes?.(this.bytes);
    const out = this.held;
    this.held = chunk;
    if (out) cb(null, out);
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    const sha = this.hash.digest('hex');
    if (this.bytes !== this.expected.sizeBytes || sha !== this.expected.sha256) {
      cb(
        new Error(
          `the object changed since it was verified: ${this.bytes} bytes with SHA-256 ${sha}, expected ${this.expected.sizeBytes} bytes with ${this.expected.sha256}`,
        ),
      );
      return;
    }
    if (this.held) this.push(this.held);
    cb();
  }
}
