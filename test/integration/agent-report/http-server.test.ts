import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StatusServer, startStatusServer } from '../../../agent/report/http-server.ts';
import { AgentMetrics } from '../../../agent/report/metrics.ts';
import { ConfigError, ExitCode, exitCodeFor, HostError } from '../../../shared/errors.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { memoryLogger, snapshot } from '../../unit/agent/report/fixtures.ts';

describe('status HTTP server (real sockets on 127.0.0.1)', () => {
  let server: StatusServer;
  let base: string;
  let status: StatusSnapshot = snapshot();
  let health = { ok: true, failing: [] as string[] };
  let statusCalls = 0;
  // Default options: process metrics included, as the agent runs it.
  const metrics = new AgentMetrics();
  const { logger, lines } = memoryLogger();

  beforeAll(async () => {
    metrics.observeSnapshot(status);
    server = await startStatusServer({
      listen: '127.0.0.1:0',
      allowPublicListen: false,
      getStatus: () => {
        statusCalls++;
        if (status.project === 'explode') throw new Error('snapshot getter broke');
        return status;
      },
      getHealth: () => health,
      metrics,
      logger,
    });
    base = `http://${server.address}`;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('reports the bound address with the real port', () => {
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.address).not.toBe('127.0.0.1:0');
  });

  it('GET /livez answers 200', async () => {
    const r = await fetch(`${base}/livez`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('ok\n');
  });

  it('GET /healthz is 200 while healthy and 503 naming the failing conditions otherwise', async () => {
    health = { ok: true, failing: [] };
    let r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ok: true, failing: [] });
    health = { ok: false, failing: ['docker: the daemon does not answer'] };
    r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ ok: false, failing: ['docker: the daemon does not answer'] });
    health = { ok: true, failing: [] };
  });

  it('GET /status returns the snapshot as JSON, the same bytes until it changes', async () => {
    const r1 = await fetch(`${base}/status?pretty=1`);
    expect(r1.status).toBe(200);
    expect(r1.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await r1.json()).toEqual(status);
    status = snapshot({ state: 'degraded' });
    const r2 = await fetch(`${base}/status`);
    expect(((await r2.json()) as StatusSnapshot).state).toBe('degraded');
  });

  it('HEAD /status sends headers only', async () => {
    const r = await fetch(`${base}/status`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(Number(r.headers.get('content-length'))).toBeGreaterThan(100);
    expect(await r.text()).toBe('');
  });

  it('GET /metrics returns Prometheus text', async () => {
    metrics.incAgentAction('gateway', 'restart');
    const r = await fetch(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    expect(text).toContain('# TYPE dalston_service_up gauge');
    expect(text).toContain('dalston_agent_actions_total{service="gateway",action="restart"} 1');
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    const r404 = await fetch(`${base}/nope`);
    expect(r404.status).toBe(404);
    expect(((await r404.json()) as { error: string }).error).toBe('no such endpoint: /nope');
    const r405 = await fetch(`${base}/status`, { method: 'POST', body: '{}' });
    expect(r405.status).toBe(405);
    expect(r405.headers.get('allow')).toBe('GET, HEAD');
  });

  it('turns a failing getter into a 500 and keeps serving', async () => {
    const good = status;
    status = { ...status, project: 'explode' };
    const r = await fetch(`${base}/status`);
    expect(r.status).toBe(500);
    expect(await r.json()).toEqual({ error: 'snapshot getter broke' });
    expect(lines.some((l) => l.msg === 'status endpoint failed')).toBe(true);
    status = good;
    expect((await fetch(`${base}/livez`)).status).toBe(200);
  });

  it('serves 50 concurrent clients', async () => {
    const before = statusCalls;
    const rs = await Promise.all(
      Array.from({ length: 50 }, () => fetch(`${base}/status`).then((r) => r.status)),
    );
    expect(rs.every((s) => s === 200)).toBe(true);
    expect(statusCalls - before).toBe(50);
  });
});

describe('agent.listen checks', () => {
  const { logger } = memoryLogger();
  const common = {
    getStatus: () => snapshot(),
    getHealth: () => ({ ok: true, failing: [] }),
    metrics: new AgentMetrics({ processMetrics: false }),
    logger,
  };

  for (const listen of ['0.0.0.0:9190', '[::]:9190', '[::0]:9190', '[0:0:0:0:0:0:0:0]:9190']) {
    it(`refuses ${listen} without allowPublicListen (ConfigError, exit 78)`, async () => {
      const err = await startStatusServer({ ...common, listen, allowPublicListen: false }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).key).toBe('agent.listen');
      expect(exitCodeFor(err)).toBe(ExitCode.config);
      expect((err as Error).message).toContain('every interface');
    });
  }

  // Spellings the kernel's resolver (inet_aton/getaddrinfo) reads as the unspecified address:
  // each used to bind every interface with allowPublicListen false.
  for (const host of ['0x0', '0.0.0.00', '000.000.000.000', '0', '[::ffff:0.0.0.0]', '[::ffff:0:0]']) {
    it(`refuses ${host} (a spelling of every interface) without binding anything`, async () => {
      const got = await startStatusServer({ ...common, listen: `${host}:0`, allowPublicListen: false }).catch(
        (e: unknown) => e,
      );
      if (!(got instanceof Error)) {
        const bound = (got as StatusServer).address;
        await (got as StatusServer).close();
        expect.fail(`${host}:0 was accepted and bound ${bound}`);
      }
      expect(got).toBeInstanceOf(ConfigError);
      expect((got as ConfigError).key).toBe('agent.listen');
      expect(exitCodeFor(got)).toBe(ExitCode.config);
      expect((got as Error).message).toContain('every interface');
    });
  }

  // Only loopback without allowPublicListen: a LAN or Tailscale address is an opt-in too.
  for (const host of ['10.1.2.3', '100.64.0.1', '[fd7a:115c:a1e0::1]', 'example.internal']) {
    it(`refuses the non-loopback address ${host} without allowPublicListen`, async () => {
      const got = await startStatusServer({ ...common, listen: `${host}:0`, allowPublicListen: false }).catch(
        (e: unknown) => e,
      );
      if (!(got instanceof Error)) await (got as StatusServer).close();
      expect(got).toBeInstanceOf(ConfigError);
      expect((got as Error).message).toMatch(/not a loopback address|hostname/);
    });
  }

  // Loopback in other spellings is fine, and the server binds the address it checked.
  for (const [host, bound] of [
    ['127.1', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['0x7f.0.0.2', '127.0.0.2'],
    ['localhost', '127.0.0.1'],
  ] as const) {
    it(`accepts the loopback spelling ${host} and binds ${bound}`, async () => {
      const s = await startStatusServer({ ...common, listen: `${host}:0`, allowPublicListen: false });
      try {
        expect(s.address).toMatch(new RegExp(`^${bound.replace(/\./g, '\\.')}:\\d+$`));
        expect((await fetch(`http://${s.address}/livez`)).status).toBe(200);
      } finally {
        await s.close();
      }
    });
  }

  it('listens on 0.0.0.0 when allowPublicListen is set', async () => {
    const s = await startStatusServer({ ...common, listen: '0.0.0.0:0', allowPublicListen: true });
    try {
      expect(s.address).toMatch(/^0\.0\.0\.0:\d+$/);
      const port = s.address.split(':')[1];
      expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('listens on IPv6 loopback', async () => {
    const s = await startStatusServer({ ...common, listen: '[::1]:0', allowPublicListen: false }).catch(
      (e: Error) => e,
    );
    if (s instanceof Error) {
      // A host without IPv6 must say so clearly, not fail silently.
      expect(s.message).toMatch(/cannot listen on agent\.listen/);
      return;
    }
    try {
      expect(s.address).toMatch(/^\[::1\]:\d+$/);
      expect((await fetch(`http://${s.address}/livez`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  for (const [listen, msg] of [
    ['localhost', /must be host:port/],
    [':::9190', /must be host:port/],
    ['127.0.0.1:70000', /port 70000 is out of range/],
    ['[nothex]:80', /not an IPv6 address/],
  ] as const) {
    it(`rejects '${listen}' as a ConfigError`, async () => {
      const err = await startStatusServer({ ...common, listen, allowPublicListen: false }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it('reports an address in use as a retryable failure, not a config error', async () => {
    const first = await startStatusServer({ ...common, listen: '127.0.0.1:0', allowPublicListen: false });
    try {
      const err = await startStatusServer({
        ...common,
        listen: first.address,
        allowPublicListen: false,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostError);
      expect(err).not.toBeInstanceOf(ConfigError);
      expect(exitCodeFor(err)).toBe(ExitCode.failure);
      expect((err as Error).message).toContain('already in use');
    } finally {
      await first.close();
    }
  });

  it('close() returns even with an idle keep-alive connection open', async () => {
    const s = await startStatusServer({ ...common, listen: '127.0.0.1:0', allowPublicListen: false });
    await fetch(`http://${s.address}/livez`, { keepalive: true });
    await s.close();
    await expect(fetch(`http://${s.address}/livez`)).rejects.toThrow();
  });
});
