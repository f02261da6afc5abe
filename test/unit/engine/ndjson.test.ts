import { describe, expect, it } from 'vitest';
import { NdjsonParser } from '../../../shared/engine/docker/ndjson.ts';

function collect() {
  const values: unknown[] = [];
  const bad: string[] = [];
  const p = new NdjsonParser(
    (v) => values.push(v),
    (line) => bad.push(line),
  );
  return { p, values, bad };
}

describe('NdjsonParser', () => {
  it('joins one object split across several chunks', () => {
    const { p, values } = collect();
    const line = `${JSON.stringify({ Action: 'start', Actor: { ID: 'abc' } })}\n`;
    for (const part of [line.slice(0, 5), line.slice(5, 17), line.slice(17)]) p.push(Buffer.from(part));
    expect(values).toEqual([{ Action: 'start', Actor: { ID: 'abc' } }]);
  });

  it('splits several objects merged into one chunk, keeping the partial tail', () => {
    const { p, values } = collect();
    p.push('{"a":1}\n{"a":2}\n{"a"');
    expect(values).toEqual([{ a: 1 }, { a: 2 }]);
    p.push(':3}\n');
    expect(values).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('decodes a multi-byte character split between chunks', () => {
    const { p, values } = collect();
    const bytes = Buffer.from('{"name":"café"}\n');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two-byte é
    p.push(bytes.subarray(0, cut));
    p.push(bytes.subarray(cut));
    expect(values).toEqual([{ name: 'café' }]);
  });

  it('reports a malformed line and carries on', () => {
    const { p, values, bad } = collect();
    p.push('{"a":1}\nnot json\n\r\n{"b":2}\n');
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(bad).toEqual(['not json']);
  });

  it('emits a final line without newline at end of stream', () => {
    const { p, values } = collect();
    p.push('{"a":1}\n{"b"');
    p.push(':2}');
    expect(values).toEqual([{ a: 1 }]);
    p.end();
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
  });
});
