import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from '../../../shared/http-request.ts';
import { probeGateway } from '../../../shared/net/gateway-probe.ts';

describe('gateway probe over node:http (real server on loopback)', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/health') res.end('{"status":"ok"}');
      else if (req.url === '/down') res.writeHead(503).end('starting');
      else if (req.url === '/echo') res.end(`${req.method} ${req.headers['x-test'] ?? '-'}`);
      // '/hang': never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('is OK only for a 2xx answer', async () => {
    expect(await probeGateway(`${base}/health`)).toBe(true);
    expect(await probeGateway(`${base}/down`)).toBe(false);
  });

  it('is not OK when nothing listens or the gateway hangs past the deadline', async () => {
    expect(await probeGateway('http://127.0.0.1:9/health')).toBe(false);
    const t0 = Date.now();
    expect(await probeGateway(`${base}/hang`, 300)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('httpRequest sends the method and headers and returns status and body', async () => {
    expect(
      await httpRequest(`${base}/echo`, { method: 'PUT', headers: { 'x-test': 'yes' }, timeoutMs: 2_000 }),
    ).toEqual({
      status: 200,
      body: 'PUT yes',
    });
  });
});
