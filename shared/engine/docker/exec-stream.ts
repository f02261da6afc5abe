/**
 * `docker exec` with streamed output, over the Engine API: the one place where
 * Docker's multiplexed attach stream is split into stdout and stderr.
 *
 * Without a TTY, Docker frames every write of the command as an 8-byte header
 * (stream type: 1 stdout, 2 stderr; 3 bytes of zero; payload length, big-endian
 * uint32) followed by the payload. dockerode's own `demuxStream` writes to its
 * targets without waiting for them, so a slow reader (an S3 upload) would let
 * the whole dump pile up in memory; here stdout is a Readable with backpressure
 * all the way to the command's pipe, and stderr keeps only its tail.
 */
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';

export interface Frame {
  /** 1 stdout, 2 stderr (0 would be stdin, which Docker never sends back). */
  stream: number;
  data: Buffer;
}

/** Splits Docker's multiplexed stream into frames; payloads are views of the chunks, not copies. */
export class FrameDemuxer {
  private readonly header = Buffer.alloc(8);
  private headerBytes = 0;
  private payloadLeft = 0;
  private type = 0;

  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.payloadLeft === 0) {
        const n = Math.min(8 - this.headerBytes, chunk.length - i);
        chunk.copy(this.header, this.headerBytes, i, i + n);
        this.headerBytes += n;
        i += n;
        if (this.headerBytes < 8) break;
        this.headerBytes = 0;
        this.type = this.header[0]!;
        if (this.type > 2 || this.header[1] !== 0 || this.header[2] !== 0 || this.header[3] !== 0) {
          throw new Error(
            `not a multiplexed Docker stream (header ${this.header.toString('hex')}); was a TTY allocated?`,
          );
        }
        this.payloadLeft = this.header.readUInt32BE(4);
        continue;
      }
      const n = Math.min(this.payloadLeft, chunk.length - i);
      out.push({ stream: this.type, data: chunk.subarray(i, i + n) });
      this.payloadLeft -= n;
      i += n;
    }
    return out;
  }

  /** False while a frame is cut off (the stream ended in the middle of one). */
  get atFrameBoundary(): boolean {
    return this.headerBytes === 0 && this.payloadLeft === 0;
  }
}

/** Keeps the last `limit` bytes written, as text (stderr of a long command). */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  push(data: Buffer): void {
    this.chunks.push(Buffer.from(data));
    this.size += data.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/**
 * Reads a multiplexed stream to its end: stdout into the returned Readable
 * (waiting for its reader), stderr into `stderr`. `done` settles when the
 * source has ended and stdout has been handed everything; it rejects when the
 * source fails or ends inside a frame. Destroying `stdout` stops reading and
 * calls `onAbandoned` (the caller ends the command).
 */
export function demultiplex(
  source: AsyncIterable<Buffer | string>,
  stderr: TailBuffer,
  opts: { highWaterMark?: number; onAbandoned?: () => void } = {},
): { stdout: Readable; done: Promise<void> } {
  const stdout = new PassThrough({ highWaterMark: opts.highWaterMark ?? 1024 * 1024 });
  const demux = new FrameDemuxer();
  let abandoned = false;
  stdout.on('close', () => {
    if (!stdout.writableFinished) {
      abandoned = true;
      opts.onAbandoned?.();
    }
  });
  const done = (async () => {
    try {
      for await (const chunk of source) {
        if (abandoned) break;
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        for (const f of demux.push(buf)) {
          if (f.stream === 2) stderr.push(f.data);
          else if (f.stream === 1 && !abandoned && !stdout.write(f.data)) {
            // Backpressure: wait until the reader took it (or went away).
            await Promise.race([once(stdout, 'drain'), once(stdout, 'close')]);
          }
        }
      }
      if (!demux.atFrameBoundary) throw new Error('the exec stream ended inside a frame');
      if (!abandoned) stdout.end();
    } catch (err) {
      if (!stdout.destroyed) stdout.destroy(err as Error);
      throw err;
    }
  })();
  // The reader learns of a failure through stdout; `done` must not be an unhandled rejection.
  done.catch(() => {});
  return { stdout, done };
}
