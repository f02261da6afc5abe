import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { LocalS3 } from '../../helpers/s3rver.ts';

/**
 * A stand-in for Dalston's gateway speaking the job API `dalston-aws verify` uses:
 * GET /health; POST /v1/audio/transcriptions (multipart `file` + `model`, Bearer key)
 * → 201 {id, status: "pending"}, the audio written to jobs/<id>/audio/original.<ext>
 * in the S3-compatible server; GET /v1/audio/transcriptions/{id} → pending, then
 * running with progress, then completed with jobs/<id>/transcript.json written
 * (or the failure `mode` asks for). 401 for a missing or wrong key, as Dalston in
 * API-key mode.
 */
export type GatewayMode = 'ok' | 'job-fails' | 'no-transcript' | 'unhealthy';

export interface StandinGateway {
  url: string;
  mode: GatewayMode;
  /** Requests received: method, path, whether the Bearer key matched. */
  requests: Array<{ method: string; path: string; authorized: boolean; model?: string; bytes?: number }>;
  close(): Promise<void>;
}

interface Job {
  id: string;
  polls: number;
}

const read = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

/** The parts of a multipart/form-data body: name → {filename, data}. */
function multipart(
  body: Buffer,
  contentType: string,
): Map<string, { filename: string | null; data: Buffer }> {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  const parts = new Map<string, { filename: string | null; data: Buffer }>();
  if (!boundary) return parts;
  const delim = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let at = body.indexOf(delim);
  while (at !== -1) {
    const start = at + delim.length + 2; // CRLF after the delimiter
    const next = body.indexOf(delim, start);
    if (next === -1) break;
    const part = body.subarray(start, next - 2); // CRLF before the next delimiter
    const headEnd = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, headEnd).toString('latin1');
    const name = /name="([^"]*)"/.exec(head)?.[1];
    if (name)
      parts.set(name, {
        filename: /filename="([^"]*)"/.exec(head)?.[1] ?? null,
        data: part.subarray(headEnd + 4),
      });
    at = next;
  }
  return parts;
}

export async function startStandinGateway(opts: {
  apiKey: string;
  s3: LocalS3;
  mode?: GatewayMode;
}): Promise<StandinGateway> {
  const jobs = new Map<string, Job>();
  const gw: StandinGateway = { url: '', mode: opts.mode ?? 'ok', requests: [], close: async () => {} };
  const put = (key: string, body: Buffer | string) =>
    opts.s3.client.send(new PutObjectCommand({ Bucket: opts.s3.bucket, Key: key, Body: body }));
  const server: Server = createServer(async (req, res) => {
    const json = (status: number, o: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    const body = await read(req);
    const path = (req.url ?? '/').split('?')[0]!;
    const authorized = req.headers.authorization === `Bearer ${opts.apiKey}`;
    const entry: StandinGateway['requests'][number] = { method: req.method ?? '', path, authorized };
    gw.requests.push(entry);
    if (path === '/health') {
      return gw.mode === 'unhealthy'
        ? json(503, { status: 'unhealthy', detail: 'database unavailable' })
        : json(200, { status: 'healthy' });
    }
    if (!path.startsWith('/v1/audio/transcriptions')) return json(404, { detail: 'Not Found' });
    if (!authorized) return json(401, { detail: 'Invalid API key' });
    if (req.method === 'POST' && path === '/v1/audio/transcriptions') {
      const parts = multipart(body, req.headers['content-type'] ?? '');
      const file = parts.get('file');
      const model = parts.get('model')?.data.toString('utf8');
      entry.model = model;
      entry.bytes = file?.data.length;
      if (!file?.filename) return json(422, { detail: 'file is required' });
      const id = randomUUID();
      const ext = file.filename.split('.').pop();
      await put(`jobs/${id}/audio/original.${ext}`, file.data);
      jobs.set(id, { id, polls: 0 });
      return json(201, { id, status: 'pending', created_at: new Date().toISOString(), model });
    }
    const id = decodeURIComponent(path.slice('/v1/audio/transcriptions/'.length));
    const job = jobs.get(id);
    if (req.method !== 'GET' || !job) return json(404, { detail: `Job ${id} not found` });
    job.polls++;
    if (job.polls === 1) return json(200, { id, status: 'pending' });
    if (job.polls === 2) return json(200, { id, status: 'running', progress: 50 });
    if (gw.mode === 'job-fails')
      return json(200, {
        id,
        status: 'failed',
        error: 'engine stt-transcribe-faster-whisper: model load failed',
      });
    if (gw.mode !== 'no-transcript')
      await put(`jobs/${id}/transcript.json`, JSON.stringify({ text: '', segments: [] }));
    await put(`jobs/${id}/tasks/transcribe/output.json`, '{}');
    return json(200, { id, status: 'completed', text: '' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  gw.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gw.close = () => new Promise((r) => server.close(() => r()));
  return gw;
}
