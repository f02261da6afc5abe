import { request as httpRequestRaw } from 'node:http';
import { request as httpsRequestRaw } from 'node:https';

export interface HttpResponse {
  status: number;
  body: string;
}

/**
 * A small HTTP(S) request over node:http. The long-running agent uses this
 * instead of fetch(): fetch loads undici and compiles its WebAssembly HTTP
 * parser on first use, which stays resident (~12 MB of agent RSS).
 * Rejects on network errors and on the timeout; the body is capped.
 */
export function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; timeoutMs: number; maxBodyBytes?: number },
): Promise<HttpResponse> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequestRaw : httpRequestRaw;
  const limit = opts.maxBodyBytes ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      { method: opts.method ?? 'GET', headers: opts.headers, signal: AbortSignal.timeout(opts.timeoutMs) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < limit) body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.slice(0, limit) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
