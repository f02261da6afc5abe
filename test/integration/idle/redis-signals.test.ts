import { createServer } from 'node:net';
import type Docker from 'dockerode';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decideIdle, FRESH_IDLE_MEMORY } from '../../../agent/idle/policy.ts';
import { DALSTON_KEYS, RedisIdleSignals } from '../../../agent/idle/redis-signals.ts';
import type { SignalReading } from '../../../agent/idle/signals.ts';
import { commandOk, connectRedis, type RedisCommands } from '../../../shared/redis/resp-client.ts';
import { dockerFromEnv, runLabels } from '../../harness/docker.ts';
import { ENV } from '../../harness/paths.ts';
import { requireEnv } from '../../harness/require.ts';

/**
 * The idle signals read from a real Redis 7 (the Debian redis-server image
 * the harness builds) holding Dalston-shaped keys: engine streams with the
 * `engines` group, the orchestrator events stream, the two sets and engine
 * heartbeat hashes — written with the same commands Dalston uses.
 */

let docker: Docker;
let container: Docker.Container | undefined;
let address: { host: string; port: number };
let redis: RedisCommands;

const r = (...args: (string | number)[]) => commandOk(redis, args);
const byName = (readings: SignalReading[]) => Object.fromEntries(readings.map((x) => [x.name, x]));
const signals = new RedisIdleSignals({ host: '127.0.0.1', port: 0 }, 60 * 60_000);
const read = () => new RedisIdleSignals(address, 60 * 60_000).read();

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address() as { port: number };
  await new Promise((res) => srv.close(res));
  return port;
}

beforeAll(async () => {
  docker = dockerFromEnv();
  // Host networking on a free loopback port: the harness daemon runs without a default bridge,
  // and the agent reaches Dalston's Redis on loopback too.
  const port = await freePort();
  container = await docker.createContainer({
    Image: requireEnv(ENV.redisImage),
    Cmd: ['redis-server', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'],
    Labels: runLabels(),
    HostConfig: { NetworkMode: 'host' },
  });
  await container.start();
  address = { host: '127.0.0.1', port };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      redis = await connectRedis(address);
      if ((await redis.command(['PING'])) === 'PONG') break;
      redis.close();
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`redis container never answered PING: ${(err as Error).message}`);
    }
    await new Promise((res) => setTimeout(res, 300));
  }
}, 120_000);

afterAll(async () => {
  redis?.close();
  await container?.remove({ force: true }).catch(() => {});
});

describe('idle signals from a real Redis holding Dalston-shaped state', () => {
  beforeEach(async () => {
    await r('FLUSHALL');
  });

  it('an empty Dalston is idle on every signal it has', async () => {
    const all = await read();
    expect(all.map((x) => [x.name, x.state])).toEqual([
      ['waiting engine tasks', 'idle'],
      ['realtime sessions', 'idle'],
    ]);
  });

  it('a job waiting in an engine stream is busy; delivered and acked it is idle again', async () => {
    const stream = `${DALSTON_KEYS.engineStreamPrefix}faster-whisper`;
    await r('XGROUP', 'CREATE', stream, DALSTON_KEYS.engineGroup, '$', 'MKSTREAM');
    await r('XADD', stream, '*', 'task_id', 't1');
    expect(byName(await read())['queue faster-whisper']).toMatchObject({
      state: 'busy',
      detail: '1 waiting, 0 in progress',
    });
    // The engine takes it: pending, in progress.
    const got = (await r(
      'XREADGROUP',
      'GROUP',
      'engines',
      'w1',
      'COUNT',
      1,
      'STREAMS',
      stream,
      '>',
    )) as unknown[];
    const id = String(((got[0] as unknown[])[1] as unknown[][])[0]![0]);
    expect(byName(await read())['queue faster-whisper']).toMatchObject({
      state: 'busy',
      detail: '0 waiting, 1 in progress',
    });
    await r('XACK', stream, 'engines', id);
    // Acked: idle, although the stream still holds the entry (Dalston never trims; XLEN is no measure).
    expect(await r('XLEN', stream)).toBe(1);
    expect(byName(await read())['queue faster-whisper']).toMatchObject({ state: 'idle' });
  });

  it('when Redis cannot give the lag, the entries after the last delivered one decide', async () => {
    const stream = `${DALSTON_KEYS.engineStreamPrefix}audio-prepare`;
    const ids: string[] = [];
    for (const t of ['a', 'b', 'c']) ids.push(String(await r('XADD', stream, '*', 'task_id', t)));
    // A group whose last id is neither the first nor the last entry: Redis reports its lag as null.
    await r('XGROUP', 'CREATE', stream, DALSTON_KEYS.engineGroup, ids[1]!);
    const group = (await r('XINFO', 'GROUPS', stream)) as unknown[][];
    expect(group[0]![group[0]!.indexOf('lag') + 1]).toBeNull();
    expect(byName(await read())['queue audio-prepare']).toMatchObject({
      state: 'busy',
      detail: '1 waiting, 0 in progress',
    });
    // The group moved to the last entry by its id: nothing after it, whatever Redis says of the lag.
    await r('XGROUP', 'SETID', stream, DALSTON_KEYS.engineGroup, ids[2]!);
    expect(byName(await read())['queue audio-prepare']).toMatchObject({
      state: 'idle',
      detail: '0 waiting, 0 in progress',
    });
  });

  it('a pending entry older than the stuck limit is reported and ignored', async () => {
    const stream = `${DALSTON_KEYS.engineStreamPrefix}stuck-engine`;
    await r('XGROUP', 'CREATE', stream, DALSTON_KEYS.engineGroup, '$', 'MKSTREAM');
    await r('XADD', stream, '*', 'task_id', 's1');
    await r('XREADGROUP', 'GROUP', 'engines', 'crashed', 'STREAMS', stream, '>');
    const fresh = byName(await read())['queue stuck-engine'];
    expect(fresh).toMatchObject({ state: 'busy', detail: '0 waiting, 1 in progress' });
    await new Promise((res) => setTimeout(res, 1_200));
    const strict = byName(await new RedisIdleSignals(address, 1_000).read())['queue stuck-engine'];
    expect(strict).toMatchObject({
      state: 'idle',
      detail: '0 waiting, 0 in progress, 1 stuck pending (ignored)',
    });
    await r('DEL', stream);
  });

  it('waiting engine tasks, realtime sessions and engine heartbeats each keep it busy', async () => {
    await r('SADD', DALSTON_KEYS.waitingEngineTasks, 'task-9');
    await r('SADD', DALSTON_KEYS.realtimeSessions, 'sess-1');
    await r(
      'HSET',
      `${DALSTON_KEYS.engineInstancePrefix}whisper-1`,
      'active_batch',
      1,
      'active_realtime',
      0,
      'status',
      'busy',
    );
    await r(
      'HSET',
      `${DALSTON_KEYS.engineInstancePrefix}prepare-1`,
      'active_batch',
      0,
      'active_realtime',
      0,
      'status',
      'idle',
    );
    const all = byName(await read());
    expect(all['waiting engine tasks']).toMatchObject({ state: 'busy', detail: '1' });
    expect(all['realtime sessions']).toMatchObject({ state: 'busy', detail: '1' });
    expect(all['engine whisper-1']).toMatchObject({ state: 'busy', detail: '1 batch, 0 realtime, busy' });
    expect(all['engine prepare-1']).toMatchObject({ state: 'idle' });
    await r('DEL', DALSTON_KEYS.waitingEngineTasks, DALSTON_KEYS.realtimeSessions);
    await r('HSET', `${DALSTON_KEYS.engineInstancePrefix}whisper-1`, 'active_batch', 0);
    expect((await read()).every((x) => x.state === 'idle')).toBe(true);
  });

  it('the orchestrator events stream counts with its own group', async () => {
    await r('XGROUP', 'CREATE', DALSTON_KEYS.eventsStream, DALSTON_KEYS.eventsGroup, '$', 'MKSTREAM');
    await r('XADD', DALSTON_KEYS.eventsStream, '*', 'type', 'job.created');
    expect(byName(await read())['orchestrator events']).toMatchObject({ state: 'busy' });
    await r('XGROUP', 'SETID', DALSTON_KEYS.eventsStream, DALSTON_KEYS.eventsGroup, '$');
    expect(byName(await read())['orchestrator events']).toMatchObject({ state: 'idle' });
  });

  it('a job arriving during the stop announcement cancels it (policy over the real signals)', async () => {
    const settings = { stopAfterMinutes: 2, bootGraceMinutes: 0, announceMinutes: 1, maxGapSeconds: 600 };
    let memory = FRESH_IDLE_MEMORY;
    const poll = async (at: number) => {
      const res = decideIdle({ now: at, bootedAt: 0, signals: await read(), holds: [] }, memory, settings);
      memory = res.memory;
      return res.decision;
    };
    expect((await poll(0)).kind).toBe('idle');
    expect((await poll(70_000)).kind).toBe('announce');
    await r('XADD', `${DALSTON_KEYS.engineStreamPrefix}faster-whisper`, '*', 'task_id', 't2');
    expect(await poll(80_000)).toMatchObject({ kind: 'busy', cancelledStop: true });
  });

  it('a Redis that is down reads as unreadable, never idle', async () => {
    expect(await signals.read()).toEqual([
      { name: 'redis', state: 'unreadable', detail: expect.stringMatching(/^redis 127\.0\.0\.1:0: /) },
    ]);
  });
});
