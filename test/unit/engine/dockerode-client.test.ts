import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  containerFromInspect,
  DockerodeClient,
  type DockerodeLike,
  parseDependsOn,
} from '../../../shared/engine/docker/dockerode-client.ts';
import { DockerError, type DockerEvent } from '../../../shared/engine/docker/types.ts';

function inspectJson(over: {
  id: string;
  service: string;
  project?: string;
  status?: string;
  health?: string;
  oneoff?: 'True' | 'False';
}) {
  const running = (over.status ?? 'running') === 'running';
  return {
    Id: over.id,
    Name: `/dalston-${over.service}-1`,
    RestartCount: 2,
    State: {
      Status: over.status ?? 'running',
      Pid: running ? 4242 : 0,
      ...(over.health ? { Health: { Status: over.health, FailingStreak: 0, Log: [] } } : {}),
    },
    Config: {
      StopTimeout: 45,
      Labels: {
        'com.docker.compose.project': over.project ?? 'dalston',
        'com.docker.compose.service': over.service,
        'com.docker.compose.depends_on': 'redis:service_healthy:false,postgres:service_started:true',
        'com.docker.compose.oneoff': over.oneoff ?? 'False',
      },
    },
    Mounts: [
      {
        Type: 'bind',
        Source: '/data/postgres',
        Destination: '/var/lib/postgresql',
        Mode: '',
        RW: true,
        Propagation: 'rprivate',
      },
      { Type: 'volume', Name: 'v1', Source: '/var/lib/docker/volumes/v1/_data', Destination: '/cache' },
    ],
  };
}

function httpError(statusCode: number, message: string) {
  return Object.assign(new Error(`(HTTP code ${statusCode}) - ${message}`), {
    statusCode,
    json: { message },
  });
}

/** A dockerode-shaped object recording what it was asked. */
function fakeDockerode(over: Partial<DockerodeLike> = {}) {
  const calls: Array<{ op: string; arg: unknown }> = [];
  const inspects: Record<string, unknown> = {
    c1: inspectJson({ id: 'c1', service: 'gateway', health: 'unhealthy' }),
    c2: inspectJson({ id: 'c2', service: 'redis', status: 'exited' }),
    job: inspectJson({ id: 'job', service: 'gateway', health: 'unhealthy', oneoff: 'True' }),
  };
  const d: DockerodeLike = {
    async version() {
      return { Version: '20.10.24', ApiVersion: '1.41' };
    },
    async listContainers(opts) {
      calls.push({ op: 'list', arg: opts });
      return [
        { Id: 'c1', Labels: { 'com.docker.compose.oneoff': 'False' } },
        { Id: 'c2' },
        { Id: 'gone' },
        { Id: 'job', Labels: { 'com.docker.compose.oneoff': 'True' } },
      ];
    },
    getContainer(id) {
      return {
        async inspect() {
          calls.push({ op: 'inspect', arg: id });
          if (!(id in inspects)) throw httpError(404, `No such container: ${id}`);
          return inspects[id];
        },
        async restart(opts) {
          calls.push({ op: 'restart', arg: { id, t: opts?.t } });
          return undefined;
        },
        async stop(opts) {
          calls.push({ op: 'stop', arg: { id, t: opts?.t } });
          if (id === 'c2') throw httpError(304, 'container already stopped');
          if (!(id in inspects)) throw httpError(404, `No such container: ${id}`);
          if (id === 'job') throw httpError(500, 'driver failed');
          return undefined;
        },
      };
    },
    async getEvents(opts) {
      calls.push({ op: 'events', arg: opts });
      return new PassThrough();
    },
    ...over,
  };
  return { d, calls };
}

describe('containerFromInspect', () => {
  it('maps compose labels, state, health, RestartCount, StopTimeout, mounts and the PID', () => {
    expect(containerFromInspect(inspectJson({ id: 'c1', service: 'gateway', health: 'unhealthy' }))).toEqual({
      id: 'c1',
      name: 'dalston-gateway-1',
      project: 'dalston',
      service: 'gateway',
      state: 'running',
      health: 'unhealthy',
      restartCount: 2,
      stopTimeoutSeconds: 45,
      dependsOn: ['redis', 'postgres'],
      mounts: [
        { type: 'bind', source: '/data/postgres', destination: '/var/lib/postgresql' },
        { type: 'volume', source: '/var/lib/docker/volumes/v1/_data', destination: '/cache' },
      ],
      pid: 4242,
    });
  });

  it('a stopped container has no PID; missing or odd Mounts entries are skipped', () => {
    const raw = inspectJson({ id: 'c2', service: 'redis', status: 'exited' }) as Record<string, unknown>;
    expect(containerFromInspect(raw)!.pid).toBeNull();
    raw.Mounts = [null, { Type: 'bind' }, { Destination: '/x' }];
    expect(containerFromInspect(raw)!.mounts).toEqual([{ type: 'unknown', source: '', destination: '/x' }]);
    delete raw.Mounts;
    expect(containerFromInspect(raw)!.mounts).toEqual([]);
  });

  it('returns null for a one-off container of `docker compose run` (the operator job, not the service)', () => {
    expect(containerFromInspect(inspectJson({ id: 'j', service: 'gateway', oneoff: 'True' }))).toBeNull();
  });

  it('reports no healthcheck as health none and a missing StopTimeout as null', () => {
    const raw = inspectJson({ id: 'c', service: 's' });
    delete (raw.Config as { StopTimeout?: number }).StopTimeout;
    const c = containerFromInspect(raw)!;
    expect(c.health).toBe('none');
    expect(c.stopTimeoutSeconds).toBeNull();
  });

  it('returns null for a container without compose labels', () => {
    expect(containerFromInspect({ Id: 'x', Config: { Labels: {} }, State: {} })).toBeNull();
    expect(containerFromInspect(null)).toBeNull();
  });

  it('parses both depends_on label formats', () => {
    expect(parseDependsOn('redis:service_healthy')).toEqual(['redis']);
    expect(parseDependsOn('a:service_started:false,b:service_healthy:true')).toEqual(['a', 'b']);
    expect(parseDependsOn('')).toEqual([]);
    expect(parseDependsOn(undefined)).toEqual([]);
  });
});

describe('DockerodeClient', () => {
  it('lists by the project label, inspects each and drops containers gone in between', async () => {
    const { d, calls } = fakeDockerode();
    const list = await new DockerodeClient(d).listProjectContainers('dalston');
    expect(list.map((c) => [c.id, c.service, c.state, c.health])).toEqual([
      ['c1', 'gateway', 'running', 'unhealthy'],
      ['c2', 'redis', 'exited', 'none'],
    ]);
    // The one-off is dropped from the list itself: not even inspected.
    expect(calls.filter((c) => c.op === 'inspect').map((c) => c.arg)).toEqual(['c1', 'c2', 'gone']);
    const listArg = calls.find((c) => c.op === 'list')!.arg as Record<string, unknown>;
    expect(listArg.all).toBe(true);
    expect(listArg.filters).toEqual({ label: ['com.docker.compose.project=dalston'] });
  });

  it('restarts with the container stop timeout as t', async () => {
    const { d, calls } = fakeDockerode();
    const client = new DockerodeClient(d);
    await client.restart('c1', 45);
    await client.restart('c1', null);
    expect(calls.filter((c) => c.op === 'restart').map((c) => c.arg)).toEqual([
      { id: 'c1', t: 45 },
      { id: 'c1', t: undefined },
    ]);
  });

  it('stops with t; already stopped or gone is no error, other failures are', async () => {
    const { d, calls } = fakeDockerode();
    const client = new DockerodeClient(d);
    await client.stop('c1', 33);
    await client.stop('c2', null);
    await client.stop('gone', 5);
    expect(calls.filter((c) => c.op === 'stop').map((c) => c.arg)).toEqual([
      { id: 'c1', t: 33 },
      { id: 'c2', t: undefined },
      { id: 'gone', t: 5 },
    ]);
    const err = await client.stop('job', 5).catch((e) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect(err.message).toMatch(/stop job: HTTP 500/);
  });

  it('reports engine and API version', async () => {
    const { d } = fakeDockerode();
    expect(await new DockerodeClient(d).version()).toEqual({ engineVersion: '20.10.24', apiVersion: '1.41' });
  });

  it.each([
    [httpError(404, 'No such container: c9'), 'gone', /not found \(No such container: c9\)/],
    [httpError(409, 'Container c1 is restarting'), 'conflict', /conflict \(Container c1 is restarting\)/],
    [httpError(500, 'driver failed'), 'server', /HTTP 500 \(driver failed\)/],
    [
      Object.assign(new Error('connect ECONNREFUSED /run/docker.sock'), { code: 'ECONNREFUSED' }),
      'unavailable',
      /daemon not reachable \(ECONNREFUSED\)/,
    ],
    [
      Object.assign(new Error('connect ENOENT /run/docker.sock'), { code: 'ENOENT' }),
      'unavailable',
      /ENOENT/,
    ],
    [new Error('socket hang up'), 'unavailable', /connection dropped/],
  ])('maps %s to %s', async (err, kind, message) => {
    const { d } = fakeDockerode({
      getContainer: () => ({
        inspect: async () => Promise.reject(err),
        restart: async () => Promise.reject(err),
        stop: async () => Promise.reject(err),
      }),
    });
    const client = new DockerodeClient(d);
    const got = await client.restart('c1', 1).catch((e) => e);
    expect(got).toBeInstanceOf(DockerError);
    expect(got.kind).toBe(kind);
    expect(got.message).toMatch(message);
  });

  it('inspect of a gone container is null, not an error', async () => {
    const { d } = fakeDockerode();
    expect(await new DockerodeClient(d).inspect('nope')).toBeNull();
  });

  it('times out a call that never answers, aborting the request', async () => {
    let aborted = false;
    const { d } = fakeDockerode({
      version: (opts) =>
        new Promise((_, reject) => {
          opts?.abortSignal?.addEventListener('abort', () => {
            aborted = true;
            reject(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
          });
        }),
    });
    const got = await new DockerodeClient(d, { callTimeoutMs: 30 }).version().catch((e) => e);
    expect(got).toBeInstanceOf(DockerError);
    expect(got.kind).toBe('timeout');
    expect(got.message).toMatch(/no answer within 30 ms/);
    expect(aborted).toBe(true);
  });

  it('subscribes with the project filter and since, and parses split and merged chunks', async () => {
    const stream = new PassThrough();
    const { d, calls } = fakeDockerode({
      getEvents: async (opts) => {
        calls.push({ op: 'events', arg: opts });
        return stream;
      },
    });
    const events: DockerEvent[] = [];
    const sub = await new DockerodeClient(d).subscribe('dalston', {
      since: 1700000000000000001n,
      onEvent: (e) => events.push(e),
    });
    const arg = calls.find((c) => c.op === 'events')!.arg as Record<string, unknown>;
    expect(arg.since).toBe('1700000000.000000001');
    expect(arg.filters).toMatchObject({ label: ['com.docker.compose.project=dalston'] });
    const ev = (action: string, id: string, project = 'dalston', oneoff = 'False') =>
      JSON.stringify({
        Type: 'container',
        Action: action,
        Actor: {
          ID: id,
          Attributes: { 'com.docker.compose.project': project, 'com.docker.compose.oneoff': oneoff },
        },
        time: 1700000001,
        timeNano: 1700000001000000000,
      });
    const oneOff = ev('health_status: unhealthy', 'job', 'dalston', 'True');
    const text = `${ev('health_status: unhealthy', 'c1')}\n${oneOff}\n${ev('die', 'c2')}\n${ev('start', 'x', 'other')}\n${ev('destroy', 'c3')}\n`;
    // Merged: two and a half objects in one chunk; split: the rest byte by byte-ish.
    const cut = text.length - 40;
    stream.write(text.slice(0, cut));
    for (let i = cut; i < text.length; i += 7) stream.write(text.slice(i, i + 7));
    await new Promise((r) => setImmediate(r));
    expect(events.map((e) => `${e.action}@${e.containerId}`)).toEqual([
      'health_status: unhealthy@c1',
      'die@c2',
      'destroy@c3',
    ]);
    stream.end();
    const { error } = await sub.done;
    expect(error).toBeInstanceOf(DockerError);
    expect((error as DockerError).kind).toBe('unavailable');
  });

  it('a stream closed by us ends without error', async () => {
    const stream = new PassThrough();
    const { d } = fakeDockerode({ getEvents: async () => stream });
    const sub = await new DockerodeClient(d).subscribe('p', { onEvent: () => {} });
    sub.close();
    expect(await sub.done).toEqual({ error: null });
  });

  it('a stream error is mapped', async () => {
    const stream = new PassThrough();
    const { d } = fakeDockerode({ getEvents: async () => stream });
    const sub = await new DockerodeClient(d).subscribe('p', { onEvent: () => {} });
    stream.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    const { error } = await sub.done;
    expect((error as DockerError).kind).toBe('unavailable');
  });

  it('a refused subscription is a DockerError', async () => {
    const { d } = fakeDockerode({
      getEvents: async () => Promise.reject(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })),
    });
    await expect(new DockerodeClient(d).subscribe('p', { onEvent: () => {} })).rejects.toMatchObject({
      kind: 'unavailable',
    });
  });
});
