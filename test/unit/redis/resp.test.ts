import { describe, expect, it } from 'vitest';
import { encodeCommand, pairs, parseReply, RespError } from '../../../shared/redis/resp.ts';

describe('RESP2 encoding and parsing (shared/redis/resp.ts)', () => {
  it('encodes a command as an array of bulk strings, counting bytes not characters', () => {
    expect(encodeCommand(['SCARD', 'dalston:sé']).toString()).toBe(
      '*2\r\n$5\r\nSCARD\r\n$11\r\ndalston:sé\r\n',
    );
  });

  it('parses every reply type, nested arrays and nulls', () => {
    const buf = Buffer.from('*5\r\n+OK\r\n:42\r\n$-1\r\n*2\r\n$3\r\nlag\r\n:0\r\n-ERR no such key\r\n');
    const r = parseReply(buf)!;
    expect(r.end).toBe(buf.length);
    expect(r.value).toEqual(['OK', 42, null, ['lag', 0], new RespError('ERR no such key')]);
  });

  it('asks for more bytes when a reply is cut anywhere', () => {
    const full = Buffer.from('*2\r\n$5\r\nhello\r\n:7\r\n');
    for (let cut = 0; cut < full.length; cut++)
      expect(parseReply(full.subarray(0, cut)), `cut ${cut}`).toBeNull();
    expect(parseReply(full)!.value).toEqual(['hello', 7]);
  });

  it('refuses what is not RESP2', () => {
    expect(() => parseReply(Buffer.from('HTTP/1.1 400\r\n'))).toThrow(/not a RESP2 reply/);
  });

  it('reads flat key/value replies as objects', () => {
    expect(pairs(['name', 'engines', 'pending', 2, 'lag', null])).toEqual({
      name: 'engines',
      pending: 2,
      lag: null,
    });
  });
});
