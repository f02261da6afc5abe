import { describe, expect, it } from 'vitest';
import { checkListen, parseIPv4, parseIPv6 } from '../../../shared/net/listen-address.ts';

describe('checkListen: the canonical address decides', () => {
  it.each([
    ['0.0.0.0:9190', '0.0.0.0'],
    ['0:9190', '0.0.0.0'],
    ['0x0:9190', '0.0.0.0'],
    ['0.0.0.00:9190', '0.0.0.0'],
    ['000.000.000.000:9190', '0.0.0.0'],
    ['0.0:9190', '0.0.0.0'],
    ['[::]:9190', '0:0:0:0:0:0:0:0'],
    ['[0:0:0:0:0:0:0:0]:9190', '0:0:0:0:0:0:0:0'],
    ['[::ffff:0.0.0.0]:9190', '::ffff:0.0.0.0'],
    ['[::ffff:0:0]:9190', '::ffff:0.0.0.0'],
    ['[0::0:0.0.0.0]:9190', '0:0:0:0:0:0:0:0'],
  ])('%s is every interface (%s): refused without allowPublicListen, allowed with it', (listen, host) => {
    const refused = checkListen(listen, false);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.message).toContain(`would listen on every interface (${host})`);
    expect(checkListen(listen, true)).toEqual({ ok: true, host, port: 9190, scope: 'every-interface' });
  });

  it.each([
    ['127.0.0.1:9190', '127.0.0.1'],
    ['127.1:9190', '127.0.0.1'],
    ['0177.0.0.1:9190', '127.0.0.1'],
    ['0x7f000001:9190', '127.0.0.1'],
    ['2130706433:9190', '127.0.0.1'],
    ['127.255.0.9:9190', '127.255.0.9'],
    ['localhost:9190', '127.0.0.1'],
    ['LOCALHOST.:9190', '127.0.0.1'],
    ['[::1]:9190', '0:0:0:0:0:0:0:1'],
    ['[0:0:0:0:0:0:0:1]:9190', '0:0:0:0:0:0:0:1'],
    ['[::ffff:127.0.0.1]:9190', '::ffff:127.0.0.1'],
    ['[::ffff:7f00:2]:9190', '::ffff:127.0.0.2'],
  ])('%s is loopback, bound as %s', (listen, host) => {
    expect(checkListen(listen, false)).toEqual({ ok: true, host, port: 9190, scope: 'loopback' });
  });

  it.each([
    ['10.0.0.5:9190', /10\.0\.0\.5 is not a loopback address/],
    ['0xa000005:9190', /10\.0\.0\.5 is not a loopback address/],
    ['100.101.102.103:9190', /is not a loopback address/],
    ['[::ffff:10.0.0.5]:9190', /::ffff:10\.0\.0\.5 is not a loopback address/],
    // The deprecated IPv4-compatible form is an ordinary IPv6 address, not 127.0.0.1.
    ['[::127.0.0.1]:9190', /0:0:0:0:0:0:7f00:1 is not a loopback address/],
    ['[fd7a:115c:a1e0::1]:9190', /is not a loopback address/],
    ['dalston.tailnet.ts.net:9190', /is a hostname, and a name can resolve to any address/],
  ])('%s is refused without allowPublicListen', (listen, message) => {
    const r = checkListen(listen, false);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(message);
  });

  it('with allowPublicListen a hostname is bound as given, an address canonically', () => {
    expect(checkListen('dalston.tailnet.ts.net:9190', true)).toEqual({
      ok: true,
      host: 'dalston.tailnet.ts.net',
      port: 9190,
      scope: 'other',
    });
    expect(checkListen('0xa000005:80', true)).toMatchObject({ ok: true, host: '10.0.0.5' });
  });

  it.each([
    ['localhost', /must be host:port/],
    [':::9190', /must be host:port/],
    ['127.0.0.1:70000', /port 70000 is out of range/],
    ['[nothex]:80', /'nothex' is not an IPv6 address/],
    ['[fe80::1%eth0]:80', /is not an IPv6 address/],
    ['1.2.3.08:80', /'1\.2\.3\.08' is not a valid IPv4 address/],
    ['1.2.3.256:80', /not a valid IPv4 address/],
    ['256.1:80', /not a valid IPv4 address/],
    ['1.2.3.4.5:80', /not a valid IPv4 address/],
    ['0x:80', /not a valid IPv4 address/],
    ['a_b:80', /must be host:port/],
  ])('%s is malformed', (listen, message) => {
    const r = checkListen(listen, true);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(message);
  });
});

describe('parseIPv4 and parseIPv6', () => {
  it('reads inet_aton forms', () => {
    expect(parseIPv4('1.2.3.4')).toBe(0x01020304);
    expect(parseIPv4('1.2.772')).toBe(0x01020304);
    expect(parseIPv4('1.0x20304')).toBe(0x01020304);
    expect(parseIPv4('4294967295')).toBe(0xffffffff);
    expect(parseIPv4('4294967296')).toBeNull();
    expect(parseIPv4('')).toBeNull();
  });

  it('reads the groups of IPv6 literals, an IPv4 tail included', () => {
    expect(parseIPv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIPv6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
    expect(parseIPv6('1:2:3:4:5:6:1.2.3.4')).toEqual([1, 2, 3, 4, 5, 6, 0x102, 0x304]);
    expect(parseIPv6('1::2::3')).toBeNull();
    expect(parseIPv6('1:2:3:4:5:6:7:8:9')).toBeNull();
  });
});
