import { describe, expect, it } from 'vitest';
import { demultiplex, FrameDemuxer, TailBuffer } from '../../../shared/engine/docker/exec-stream.ts';

/** One frame of Docker's multiplexed exec stream. */
function frame(stream: number, payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

describe('FrameDemuxer', () => {
  it('splits frames whatever the chunk boundaries, headers included', () => {
    const wire = Buffer.concat([frame(1, 'PGDMP'), frame(2, 'warning\n'), frame(1, 'rest')]);
    for (let cut = 1; cut < wire.length; cut++) {
      const d = new FrameDemuxer();
      const frames = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
      const by = (s: number) =>
        Buffer.concat(frames.filter((f) => f.stream === s).map((f) => f.data)).toString();
      expect(by(1), `cut at ${cut}`).toBe('PGDMPrest');
      expect(by(2)).toBe('warning\n');
      expect(d.atFrameBoundary).toBe(true);
    }
  });

  it('refuses a stream that is not multiplexed (a TTY exec) instead of passing garbage on', () => {
    expect(() => new FrameDemuxer().push(Buffer.from('PGDMP raw bytes'))).toThrow(
      /not a multiplexed Docker stream/,
    );
  });
});

describe('demultiplex', () => {
  it('hands stdout over with backpressure, keeps only the tail of stderr', async () => {
    const big = Buffer.alloc(256 * 1024, 0x61);
    const source = (async function* () {
      for (let i = 0; i < 16; i++) {
        yield frame(1, big);
        yield frame(2, `line ${i}\n`);
      }
    })();
    const stderr = new TailBuffer(16);
    const { stdout, done } = demultiplex(source, stderr, { highWaterMark: 64 * 1024 });
    let total = 0;
    let maxBuffered = 0;
    for await (const c of stdout) {
      total += (c as Buffer).length;
      maxBuffered = Math.max(maxBuffered, stdout.readableLength);
      await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(total).toBe(16 * big.length);
    // The reader was slow, yet the PassThrough never held more than about one frame beyond its mark.
    expect(maxBuffered).toBeLessThanOrEqual(64 * 1024 + big.length);
    expect(stderr.text()).toBe('line 14\nline 15\n');
  });

  it('a stream cut inside a frame fails stdout and done', async () => {
    const cut = frame(1, 'PGDMP and more').subarray(0, 12);
    const { stdout, done } = demultiplex(
      (async function* () {
        yield cut;
      })(),
      new TailBuffer(100),
    );
    const read = (async () => {
      for await (const _ of stdout) {
      }
    })();
    await expect(done).rejects.toThrow('the exec stream ended inside a frame');
    await expect(read).rejects.toThrow('the exec stream ended inside a frame');
  });

  it('a reader that gives up ends the command', async () => {
    let abandoned = 0;
    const { stdout } = demultiplex(
      (async function* () {
        for (;;) yield frame(1, Buffer.alloc(64 * 1024));
      })(),
      new TailBuffer(100),
      { highWaterMark: 1024, onAbandoned: () => abandoned++ },
    );
    // Breaking out destroys stdout; its 'close' comes on a later tick.
    for await (const _ of stdout) break;
    await new Promise((r) => setImmediate(r));
    expect(abandoned).toBe(1);
  });
});
