import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { eventFilters, sinceParam, toDockerEvent } from './events.ts';
import { demultiplex, TailBuffer } from './exec-stream.ts';
import { NdjsonParser } from './ndjson.ts';
import {
  type ContainerExec,
  type ContainerInfo,
  type ContainerMount,
  type DockerClient,
  DockerError,
  type DockerEvent,
  type EngineVersion,
  type EventSubscription,
  type ExecRun,
  type ExecSpec,
  isOneOff,
  LABEL_DEPENDS_ON,
  LABEL_PROJECT,
  LABEL_SERVICE,
  type ServiceHealth,
} from './types.ts';

/** The part of dockerode the agent uses; unit tests pass an object of this shape. */
export interface DockerodeLike {
  version(opts?: { abortSignal?: AbortSignal }): Promise<unknown>;
  listContainers(opts: Record<string, unknown>): Promise<unknown[]>;
  getContainer(id: string): {
    inspect(opts?: Record<string, unknown>): Promise<unknown>;
    restart(opts?: Record<string, unknown>): Promise<unknown>;
    stop(opts?: Record<string, unknown>): Promise<unknown>;
    /** Only backups and restores exec; the agent's fakes need not have it. */
    exec?(opts: Record<string, unknown>): Promise<DockerodeExecLike>;
  };
  getEvents(opts: Record<string, unknown>): Promise<NodeJS.ReadableStream>;
}

/** dockerode's Exec: started once, inspected for the exit code and the process id. */
export interface DockerodeExecLike {
  start(opts: Record<string, unknown>): Promise<NodeJS.ReadableStream | NodeJS.ReadWriteStream>;
  inspect(opts?: Record<string, unknown>): Promise<unknown>;
}

export interface DockerodeClientOptions {
  /** Deadline of ordinary API calls (not the event stream). */
  callTimeoutMs?: number;
  /** Called for event lines that are not JSON (logged by the caller). */
  onBadLine?: (line: string, err: Error) => void;
}

/** A dockerode for DOCKER_HOST, or /var/run/docker.sock when unset (dockerode's own default). */
export function dockerodeFromEnv(): DockerodeLike {
  return new Docker() as unknown as DockerodeLike;
}

/** The one border where Docker's JSON becomes the project's types. */
export class DockerodeClient implements DockerClient, ContainerExec {
  private readonly callTimeoutMs: number;

  constructor(
    private readonly docker: DockerodeLike,
    private readonly opts: DockerodeClientOptions = {},
  ) {
    this.callTimeoutMs = opts.callTimeoutMs ?? 10_000;
  }

  async version(): Promise<EngineVersion> {
    const v = (await this.call('version', (abortSignal) => this.docker.version({ abortSignal }))) as Record<
      string,
      unknown
    >;
    return { engineVersion: String(v.Version ?? 'unknown'), apiVersion: String(v.ApiVersion ?? 'unknown') };
  }

  async listProjectContainers(project: string): Promise<ContainerInfo[]> {
    const list = await this.call('list containers', (abortSignal) =>
      this.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_PROJECT}=${project}`] },
        abortSignal,
      }),
    );
    // One-offs (`docker compose run`) are skipped here already, before the inspect they would cost.
    const ids = list
      .filter((c) => !isOneOff((c as { Labels?: Record<string, string> }).Labels))
      .map((c) => (c as Record<string, unknown>).Id)
      .filter((id): id is string => typeof id === 'string');
    // Inspect gives health, RestartCount and StopTimeout; a few at a time.
    const out: ContainerInfo[] = [];
    for (let i = 0; i < ids.length; i += 16) {
      const batch = await Promise.all(ids.slice(i, i + 16).map((id) => this.inspect(id)));
      for (const c of batch) if (c && c.project === project) out.push(c);
    }
    return out;
  }

  async inspect(id: string): Promise<ContainerInfo | null> {
    try {
      const raw = await this.call(`inspect ${id.slice(0, 12)}`, (abortSignal) =>
        this.docker.getContainer(id).inspect({ abortSignal }),
      );
      return containerFromInspect(raw);
    } catch (err) {
      if (err instanceof DockerError && err.kind === 'gone') return null;
      throw err;
    }
  }

  async restart(id: string, stopTimeoutSeconds: number | null): Promise<void> {
    const opts: Record<string, unknown> = {};
    if (stopTimeoutSeconds !== null) opts.t = stopTimeoutSeconds;
    // The call lasts as long as the stop timeout plus the start.
    const deadline = ((stopTimeoutSeconds ?? 10) + 30) * 1000;
    await this.call(
      `restart ${id.slice(0, 12)}`,
      (abortSignal) => this.docker.getContainer(id).restart({ ...opts, abortSignal }),
      deadline,
    );
  }

  async stop(id: string, stopTimeoutSeconds: number | null): Promise<void> {
    const opts: Record<string, unknown> = {};
    if (stopTimeoutSeconds !== null) opts.t = stopTimeoutSeconds;
    const deadline = ((stopTimeoutSeconds ?? 10) + 30) * 1000;
    try {
      await this.call(
        `stop ${id.slice(0, 12)}`,
        (abortSignal) => this.docker.getContainer(id).stop({ ...opts, abortSignal }),
        deadline,
      );
    } catch (err) {
      // 304: already stopped; gone: nothing left to stop. Both are what the caller wanted.
      const cause = (err as { cause?: { statusCode?: number } }).cause;
      if (cause?.statusCode === 304) return;
      if (err instanceof DockerError && err.kind === 'gone') return;
      throw err;
    }
  }

  async subscribe(
    project: string,
    opts: { since?: bigint; onEvent: (e: DockerEvent) => void },
  ): Promise<EventSubscription> {
    const ac = new AbortController();
    const query: Record<string, unknown> = { filters: eventFilters(project), abortSignal: ac.signal };
    if (opts.since !== undefined) query.since = sinceParam(opts.since);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getEvents(query);
    } catch (err) {
      throw mapDockerError(err, 'subscribe to events');
    }
    const parser = new NdjsonParser((value) => {
      const e = toDockerEvent(value);
      // Container events carry the labels as attributes: a one-off's never reach the supervisor.
      if (e && (e.attributes[LABEL_PROJECT] ?? project) === project && !isOneOff(e.attributes))
        opts.onEvent(e);
    }, this.opts.onBadLine);
    let closedByUs = false;
    const done = new Promise<{ error: Error | null }>((resolve) => {
      let settled = false;
      const finish = (error: Error | null) => {
        if (settled) return;
        settled = true;
        resolve({ error: closedByUs ? null : error });
      };
      stream.on('data', (chunk: Buffer | string) => parser.push(chunk));
      stream.on('end', () => {
        parser.end();
        finish(new DockerError('unavailable', 'event stream ended'));
      });
      stream.on('error', (err: Error) => finish(mapDockerError(err, 'event stream')));
      stream.on('close', () => finish(new DockerError('unavailable', 'event stream closed')));
    });
    return {
      done,
      close() {
        closedByUs = true;
        ac.abort();
        (stream as unknown as { destroy?: () => void }).destroy?.();
      },
    };
  }

  async containerEnv(containerId: string): Promise<Record<string, string>> {
    const raw = (await this.call(`inspect ${containerId.slice(0, 12)}`, (abortSignal) =>
      this.docker.getContainer(containerId).inspect({ abortSignal }),
    )) as { Config?: { Env?: unknown } };
    const env: Record<string, string> = {};
    const list = Array.isArray(raw?.Config?.Env) ? raw.Config.Env : [];
    for (const item of list) {
      if (typeof item !== 'string') continue;
      const eq = item.indexOf('=');
      if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return env;
  }

  /**
   * `docker exec` with stdout streamed (exec-stream.ts demultiplexes it). With
   * `stdin` the connection is hijacked and stdin's end half-closes it, which
   * Docker passes on to the command as EOF.
   */
  async exec(containerId: string, spec: ExecSpec): Promise<ExecRun> {
    const short = containerId.slice(0, 12);
    const container = this.docker.getContainer(containerId);
    if (!container.exec) throw new DockerError('server', 'internal: this Docker client cannot exec');
    const withStdin = spec.stdin !== undefined;
    const exec = await this.call(`exec in ${short}`, (abortSignal) =>
      container.exec!({
        Cmd: spec.cmd,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: withStdin,
        Tty: false,
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.env ? { Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`) } : {}),
        abortSignal,
      }),
    );
    const stream = (await this.call(`start exec in ${short}`, () =>
      exec.start({ hijack: withStdin, stdin: withStdin, Tty: false }),
    )) as Readable & Partial<NodeJS.WritableStream>;
    const stderr = new TailBuffer(spec.stderrLimitBytes ?? 64 * 1024);
    const kill = async () => {
      // A dropped connection does not end an exec'd process: signal it by its host PID.
      const info = (await exec.inspect().catch(() => null)) as { Pid?: unknown; Running?: unknown } | null;
      if (info?.Running === true && typeof info.Pid === 'number' && info.Pid > 0) {
        try {
          process.kill(info.Pid, 'SIGTERM');
        } catch {
          // gone already, or not ours to signal
        }
      }
      stream.destroy();
    };
    const { stdout, done: drained } = demultiplex(stream, stderr, { onAbandoned: () => void kill() });
    if (spec.stdin) {
      const input = spec.stdin;
      const sink = stream as unknown as NodeJS.WritableStream;
      input.on('error', (err) => stream.destroy(err));
      // pipe() ends the socket's write side when stdin ends: Docker sees EOF, reading goes on.
      input.pipe(sink);
    }
    const done = (async () => {
      let streamError: Error | null = null;
      await drained.catch((err: Error) => {
        streamError = err;
      });
      const exitCode = await this.execExitCode(exec, short, streamError ? 3_000 : 5_000);
      // A command that failed may have closed its stdin under our feet (EPIPE): its exit code says more.
      if (streamError && (exitCode === null || exitCode === 0)) {
        if (exitCode === null) await kill();
        throw mapDockerError(streamError, `exec stream in ${short}`);
      }
      if (exitCode === null) {
        await kill();
        throw new DockerError('timeout', `docker exec in ${short}: still running after its output ended`);
      }
      return { exitCode, stderr: stderr.text() };
    })();
    done.catch(() => {});
    return { stdout, done, kill };
  }

  /** The exec's exit code once it has exited (the stream ends first), or null after `waitMs`. */
  private async execExitCode(exec: DockerodeExecLike, short: string, waitMs: number): Promise<number | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const info = (await this.call(`inspect exec in ${short}`, () => exec.inspect())) as {
        Running?: unknown;
        ExitCode?: unknown;
      };
      if (info.Running !== true && typeof info.ExitCode === 'number') return info.ExitCode;
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async call<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
    timeoutMs?: number,
  ): Promise<T> {
    const ac = new AbortController();
    let timedOut = false;
    const ms = timeoutMs ?? this.callTimeoutMs;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, ms);
    try {
      return await fn(ac.signal);
    } catch (err) {
      if (timedOut)
        throw new DockerError('timeout', `docker ${what}: no answer within ${ms} ms`, { cause: err });
      throw mapDockerError(err, what);
    } finally {
      clearTimeout(timer);
    }
  }
}

const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'EACCES',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** Maps dockerode/docker-modem/socket errors to kinds the supervisor handles. */
export function mapDockerError(err: unknown, what: string): DockerError {
  if (err instanceof DockerError) return err;
  const e = (err ?? {}) as {
    statusCode?: number;
    code?: string;
    message?: string;
    name?: string;
    json?: unknown;
  };
  const detail = dockerMessage(e);
  if (e.statusCode === 404)
    return new DockerError('gone', `docker ${what}: not found (${detail})`, { cause: err });
  if (e.statusCode === 409)
    return new DockerError('conflict', `docker ${what}: conflict (${detail})`, { cause: err });
  if (typeof e.statusCode === 'number') {
    return new DockerError('server', `docker ${what}: HTTP ${e.statusCode} (${detail})`, { cause: err });
  }
  if (e.code && SOCKET_CODES.has(e.code)) {
    return new DockerError('unavailable', `docker ${what}: daemon not reachable (${e.code})`, { cause: err });
  }
  if (e.name === 'AbortError') return new DockerError('timeout', `docker ${what}: aborted`, { cause: err });
  if (/socket hang up/i.test(e.message ?? '')) {
    return new DockerError('unavailable', `docker ${what}: connection dropped`, { cause: err });
  }
  return new DockerError('server', `docker ${what}: ${detail}`, { cause: err });
}

function dockerMessage(e: { message?: string; json?: unknown }): string {
  const j = e.json as { message?: unknown } | null | undefined;
  if (j && typeof j === 'object' && typeof j.message === 'string') return j.message;
  return (e.message ?? 'unknown error').trim();
}

/**
 * Maps `docker inspect` JSON; null when it is not a compose service container
 * (no compose labels, or a one-off of `docker compose run`: the operator's job
 * keeps the service's labels and healthcheck, but is not the service).
 */
export function containerFromInspect(raw: unknown): ContainerInfo | null {
  if (!raw || typeof raw !== 'object') return null;
  // biome-ignore lint/suspicious/noExplicitAny: Docker's inspect JSON, read defensively field by field.
  const r = raw as Record<string, any>;
  const labels: Record<string, string> = r.Config?.Labels ?? {};
  const project = labels[LABEL_PROJECT];
  const service = labels[LABEL_SERVICE];
  if (typeof r.Id !== 'string' || !project || !service || isOneOff(labels)) return null;
  const state = r.State ?? {};
  const stopTimeout = r.Config?.StopTimeout;
  return {
    id: r.Id,
    name: typeof r.Name === 'string' ? r.Name.replace(/^\//, '') : r.Id.slice(0, 12),
    project,
    service,
    state: typeof state.Status === 'string' ? state.Status : 'unknown',
    health: healthFrom(state.Health?.Status),
    restartCount: typeof r.RestartCount === 'number' ? r.RestartCount : 0,
    stopTimeoutSeconds: typeof stopTimeout === 'number' ? stopTimeout : null,
    dependsOn: parseDependsOn(labels[LABEL_DEPENDS_ON]),
    mounts: mountsFrom(r.Mounts),
    pid: typeof state.Pid === 'number' && state.Pid > 0 ? state.Pid : null,
  };
}

function mountsFrom(raw: unknown): ContainerMount[] {
  if (!Array.isArray(raw)) return [];
  const out: ContainerMount[] = [];
  for (const m of raw) {
    if (!m || typeof m !== 'object') continue;
    const { Type, Source, Destination } = m as Record<string, unknown>;
    if (typeof Destination !== 'string') continue;
    out.push({
      type: typeof Type === 'string' ? Type : 'unknown',
      source: typeof Source === 'string' ? Source : '',
      destination: Destination,
    });
  }
  return out;
}

function healthFrom(s: unknown): ServiceHealth {
  return s === 'healthy' || s === 'unhealthy' || s === 'starting' ? s : 'none';
}

/** `redis:service_healthy:false,db:service_started:true` (older compose: no third part). */
export function parseDependsOn(label: string | undefined): string[] {
  if (!label) return [];
  return label
    .split(',')
    .map((part) => part.split(':')[0]!.trim())
    .filter((s) => s !== '');
}
