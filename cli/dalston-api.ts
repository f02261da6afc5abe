/**
 * The few calls of Dalston's HTTP API that `dalston-aws verify` makes, over fetch
 * (a laptop process: undici's footprint does not matter here). Every call has a
 * deadline; a call that gets no HTTP answer throws GatewayUnreachable.
 */
export interface HttpAnswer {
  status: number;
  /** Parsed JSON, or null when the body is not JSON. */
  json: unknown;
  /** The body's first 300 characters, for messages. */
  text: string;
}

export interface DalstonApi {
  health(): Promise<HttpAnswer>;
  getJob(id: string): Promise<HttpAnswer>;
  submit(audio: Uint8Array, filename: string, model: string): Promise<HttpAnswer>;
}

export class GatewayUnreachable extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`no answer from ${url}: ${reason}`);
  }
}

export const TRANSCRIPTIONS_PATH = '/v1/audio/transcriptions';

export function fetchDalstonApi(base: string, apiKey: string | null, timeoutMs = 15_000): DalstonApi {
  const root = base.replace(/\/+$/, '');
  const call = async (path: string, init: RequestInit = {}): Promise<HttpAnswer> => {
    const url = `${root}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string; message?: string } };
      const reason =
        e.name === 'TimeoutError'
          ? `no answer in ${timeoutMs / 1000} s`
          : (e.cause?.code ?? e.cause?.message ?? String(err));
      throw new GatewayUnreachable(url, reason);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // Not JSON: the text says what it was.
    }
    return { status: res.status, json, text: text.slice(0, 300) };
  };
  return {
    health: () => call('/health'),
    getJob: (id) => call(`${TRANSCRIPTIONS_PATH}/${encodeURIComponent(id)}`),
    submit: (audio, filename, model) => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(audio)], { type: 'audio/wav' }), filename);
      form.append('model', model);
      return call(TRANSCRIPTIONS_PATH, { method: 'POST', body: form });
    },
  };
}
