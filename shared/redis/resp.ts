/**
 * RESP2, the Redis wire protocol: encoding commands and parsing replies.
 * Pure (bytes in, values out) so the parser is tested without a server; the
 * socket lives in resp-client.ts. Redis 7 answers RESP2 unless a client asks
 * for RESP3 with HELLO, which this client never does.
 */

export type RespValue = string | number | null | RespError | RespValue[];

/** A `-ERR …` reply: a value, not a thrown error, so a caller can tell "no such key" from a broken socket. */
export class RespError {
  constructor(readonly message: string) {}
}

export function encodeCommand(args: readonly (string | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(String(a), 'utf8');
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** One reply parsed from the front of `buf`, or null when more bytes are needed. */
export function parseReply(buf: Buffer, start = 0): { value: RespValue; end: number } | null {
  if (start >= buf.length) return null;
  const lineEnd = buf.indexOf('\r\n', start);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buf[start]!);
  const line = buf.toString('utf8', start + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return null;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, at);
        if (!item) return null;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`not a RESP2 reply (type byte ${JSON.stringify(type)})`);
  }
}

/** A flat [k1, v1, k2, v2, …] reply (HGETALL, XINFO) as an object. */
export function pairs(value: RespValue): Record<string, RespValue> {
  if (!Array.isArray(value)) return {};
  const out: Record<string, RespValue> = {};
  for (let i = 0; i + 1 < value.length; i += 2) out[String(value[i])] = value[i + 1]!;
  return out;
}
