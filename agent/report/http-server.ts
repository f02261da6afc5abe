/**
 * The agent's HTTP endpoint (node:http, no framework):
 *   GET /livez    200 while the process answers
 *   GET /healthz  200 or 503 with {ok, failing[]} (conditions computed by the caller, see health.ts)
 *   GET /status   the StatusSnapshot JSON
 *   GET /metrics  Prometheus text
 * Everything else is 404, other methods 405. It listens on loopback only unless
 * agent.allowPublicListen (any spelling of another address is refused), so no
 * port is ever exposed by accident.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, HostError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { checkListen } from '../../shared/net/listen-address.ts';
import type { StatusSnapshot } from '../../shared/status/snapshot.ts';
import type { AgentMetrics } from './metrics.ts';

export { evaluateHealth, type HealthInputs, type HealthVerdict } from './health.ts';

export interface StatusServerOptions {
  /** `host:port` or `[v6]:port`; port 0 picks a free port. */
  listen: string;
  allowPublicListen: boolean;
  getStatus: () => StatusSnapshot;
  getHealth: () => { ok: boolean; failing: string[] };
  metrics: AgentMetrics;
  logger: Logger;
}

export interface StatusServer {
  /** The bound address, `127.0.0.1:9190` or `[::1]:9190`. */
  address: string;
  close(): Promise<void>;
}

/**
 * Checks `agent.listen` (shared/net/listen-address.ts, the same check `dalston-host config`
 * runs); every problem is a ConfigError on that key (exit 78). `host` is the canonical
 * address that was checked, and the one the server binds.
 */
export function parseListen(listen: string, allowPublicListen: boolean): { host: string; port: number } {
  const r = checkListen(listen, allowPublicListen);
  if (!r.ok) throw new ConfigError('agent.listen', `agent.listen ${r.message}`);
  return { host: r.host, port: r.port };
}

/** The /status body is serialized once per snapshot object, not once per request. */
class StatusCache {
  private last: StatusSnapshot | null = null;
  private body: Buffer = Buffer.alloc(0);
  get(snapshot: StatusSnapshot): Buffer {
    if (snapshot !== this.last) {
      this.body = Buffer.from(`${JSON.stringify(snapshot)}\n`);
      this.last = snapshot;
    }
    return this.body;
  }
}

function send(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  type: string,
  body: string | Buffer,
  extra: Record<string, string> = {},
): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    'content-type': type,
    'content-length': String(buf.length),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const ROUTES = new Set(['/livez', '/healthz', '/status', '/metrics']);

export async function startStatusServer(opts: StatusServerOptions): Promise<StatusServer> {
  const { host, port } = parseListen(opts.listen, opts.allowPublicListen);
  const cache = new StatusCache();
  const log = opts.logger;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (!ROUTES.has(path)) {
      send(
        res,
        req,
        404,
        JSON_TYPE,
        `${JSON.stringify({ error: `no such endpoint: ${path}`, endpoints: [...ROUTES] })}\n`,
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, req, 405, JSON_TYPE, `${JSON.stringify({ error: `method ${req.method} not allowed` })}\n`, {
        allow: 'GET, HEAD',
      });
      return;
    }
    switch (path) {
      case '/livez':
        send(res, req, 200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      case '/healthz': {
        const h = opts.getHealth();
        send(res, req, h.ok ? 200 : 503, JSON_TYPE, `${JSON.stringify({ ok: h.ok, failing: h.failing })}\n`);
        return;
      }
      case '/status':
        send(res, req, 200, JSON_TYPE, cache.get(opts.getStatus()));
        return;
      case '/metrics':
        send(res, req, 200, opts.metrics.contentType, await opts.metrics.render());
        return;
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug in a getter must not take the endpoint (or the agent) down.
      log.error({ err, url: req.url }, 'status endpoint failed');
      if (!res.headersSent) {
        send(
          res,
          req,
          500,
          JSON_TYPE,
          `${JSON.stringify({ error: (err as Error)?.message ?? String(err) })}\n`,
        );
      } else {
        res.destroy();
      }
    });
  });
  // Short timeouts: a stuck client must not hold sockets open forever.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the address is already in use (is another agent running?)'
          : err.code === 'EADDRNOTAVAIL'
            ? 'the address is not on this host'
            : err.message;
      // Not a ConfigError: an address in use may free itself, so systemd should retry.
      reject(
        new HostError('failure', `cannot listen on agent.listen '${opts.listen}': ${why}`, { cause: err }),
      );
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'status endpoint error'));

  const a = server.address() as AddressInfo;
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  log.info({ address }, 'status endpoint listening');

  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
