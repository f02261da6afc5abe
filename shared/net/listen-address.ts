/**
 * `agent.listen` read the way the kernel's resolver would read it, and decided
 * on that canonical address: the config check (`dalston-host config`) and the
 * agent's HTTP server call the same function, and the server binds the
 * canonical literal it checked, never the text, so no spelling (`0x0`,
 * `000.000.000.000`, `[::ffff:0.0.0.0]`) can mean something else at bind time.
 *
 * Without `agent.allowPublicListen` only loopback is accepted: 127.0.0.0/8,
 * ::1 and ::ffff:127.x.y.z, in any spelling, and `localhost`, which is taken
 * to mean 127.0.0.1 without a lookup (an /etc/hosts entry could point the
 * name anywhere). Any other hostname is refused then, because a name can
 * resolve to any address; with allowPublicListen it is bound as given.
 * Pure: no IO.
 */
import { isIP } from 'node:net';

export type ListenScope = 'loopback' | 'every-interface' | 'other';

export type ListenCheck =
  | {
      ok: true;
      /** What to bind: a canonical IP literal, or (allowPublicListen only) a hostname as given. */
      host: string;
      port: number;
      scope: ListenScope;
    }
  | { ok: false; message: string };

/** Checks `agent.listen`; the message quotes the value and says what to do. */
export function checkListen(listen: string, allowPublicListen: boolean): ListenCheck {
  // The caller names the key (agent.listen) in front of this.
  const bad = (why: string): ListenCheck => ({ ok: false, message: `'${listen}' ${why}` });
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen.trim());
  if (!m) return bad('must be host:port or [ipv6]:port');
  const port = Number(m[3]);
  if (port > 65535) return bad(`: port ${port} is out of range (0-65535)`);

  let addr: { host: string; scope: ListenScope } | { hostname: string };
  if (m[1] !== undefined) {
    const bytes = isIP(m[1]) === 6 ? parseIPv6(m[1]) : null;
    if (!bytes) return bad(`: '${m[1]}' is not an IPv6 address`);
    addr = classifyIPv6(bytes);
  } else {
    const host = m[2]!;
    if (looksNumeric(host)) {
      const v4 = parseIPv4(host);
      if (v4 === null) return bad(`: '${host}' is not a valid IPv4 address`);
      addr = { host: formatIPv4(v4), scope: classifyIPv4(v4) };
    } else if (/^localhost\.?$/i.test(host)) {
      addr = { host: '127.0.0.1', scope: 'loopback' };
    } else if (/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$/.test(host)) {
      addr = { hostname: host };
    } else {
      return bad('must be host:port or [ipv6]:port');
    }
  }

  if ('hostname' in addr) {
    if (!allowPublicListen) {
      return bad(
        `: '${addr.hostname}' is a hostname, and a name can resolve to any address; use a loopback ` +
          'address (127.0.0.1, [::1] or localhost), or set agent.allowPublicListen to true',
      );
    }
    return { ok: true, host: addr.hostname, port, scope: 'other' };
  }
  if (!allowPublicListen && addr.scope === 'every-interface') {
    return bad(
      `would listen on every interface (${addr.host}); use 127.0.0.1, or set agent.allowPublicListen ` +
        'to true if that is really meant',
    );
  }
  if (!allowPublicListen && addr.scope === 'other') {
    return bad(
      `: ${addr.host} is not a loopback address (127.0.0.0/8, ::1); set agent.allowPublicListen to ` +
        'true to listen on it (e.g. the Tailscale address)',
    );
  }
  return { ok: true, host: addr.host, port, scope: addr.scope };
}

/** Dot-separated parts that each start with a digit: inet_aton's territory, never a hostname. */
function looksNumeric(host: string): boolean {
  return host.split('.').every((p) => /^[0-9]/.test(p));
}

/**
 * inet_aton's reading (what getaddrinfo applies before any lookup): 1–4 parts,
 * each decimal, octal (leading 0) or hex (0x); the last part fills the
 * remaining bytes. Null when it is not such an address.
 */
export function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length > 4) return null;
  const values: number[] = [];
  for (const p of parts) {
    let v: number;
    if (/^0x[0-9a-f]+$/i.test(p)) v = Number.parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) v = Number.parseInt(p, 8);
    else if (/^[1-9][0-9]*$/.test(p)) v = Number.parseInt(p, 10);
    else return null;
    if (!Number.isSafeInteger(v)) return null;
    values.push(v);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255)) return null;
  if (last >= 256 ** (4 - values.length)) return null;
  return values.reduce((acc, v, i) => acc + v * 256 ** (3 - i), 0) + last;
}

function formatIPv4(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

function classifyIPv4(v: number): ListenScope {
  if (v === 0) return 'every-interface';
  if (v >>> 24 === 127) return 'loopback';
  return 'other';
}

/** The 8 groups of an IPv6 literal Node's isIP accepted (`::`, an IPv4 tail); null otherwise. */
export function parseIPv6(text: string): number[] | null {
  let s = text;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const parts = v4[2]!.split('.').map(Number);
    if (parts.some((p) => p > 255)) return null;
    tail.push(parts[0]! * 256 + parts[1]!, parts[2]! * 256 + parts[3]!);
    s = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...rest];
  if (all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  const fill = 8 - tail.length - head.length - rest.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const hex = (g: string) => Number.parseInt(g, 16);
  return [...head.map(hex), ...new Array<number>(Math.max(0, fill)).fill(0), ...rest.map(hex), ...tail];
}

function classifyIPv6(g: number[]): { host: string; scope: ListenScope } {
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  // IPv4-mapped (::ffff:a.b.c.d): a dual-stack socket bound to it serves that IPv4 address.
  if (zeros(5) && g[5] === 0xffff) {
    const v4 = g[6]! * 65536 + g[7]!;
    return { host: `::ffff:${formatIPv4(v4)}`, scope: classifyIPv4(v4) };
  }
  const host = g.map((x) => x.toString(16)).join(':');
  if (zeros(8)) return { host, scope: 'every-interface' };
  if (zeros(7) && g[7] === 1) return { host, scope: 'loopback' };
  return { host, scope: 'other' };
}
