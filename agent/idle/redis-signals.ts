import { pairs, type RespValue } from '../../shared/redis/resp.ts';
import { commandOk, connectRedis, type RedisCommands } from '../../shared/redis/resp-client.ts';
import { countReading, engineReading, type GroupInfo, type SignalReading, streamReading } from './signals.ts';

/**
 * Dalston's queue state in Redis, read without changing anything and without
 * authenticated API calls (those would bump `api_keys.last_used_at` and keep
 * the host awake by being asked). Key names are Dalston's own.
 */
export const DALSTON_KEYS = {
  engineStreamPrefix: 'dalston:stream:',
  engineGroup: 'engines',
  eventsStream: 'dalston:events:stream',
  eventsGroup: 'orchestrators',
  waitingEngineTasks: 'dalston:waiting_engine_tasks',
  realtimeSessions: 'dalston:realtime:sessions:active',
  engineInstancePrefix: 'dalston:engine:instance:',
} as const;

export interface IdleSignalSource {
  read(): Promise<SignalReading[]>;
}

export class RedisIdleSignals implements IdleSignalSource {
  constructor(
    private readonly address: { host: string; port: number },
    private readonly stuckPendingMs: number,
    private readonly timeoutMs = 3_000,
  ) {}

  async read(): Promise<SignalReading[]> {
    let redis: RedisCommands;
    try {
      redis = await connectRedis(this.address, this.timeoutMs);
    } catch (err) {
      // Unreadable is busy: a Redis that is down may be a Redis that is restarting with work in it.
      return [{ name: 'redis', state: 'unreadable', detail: (err as Error).message }];
    }
    try {
      return await this.readAll(redis);
    } catch (err) {
      return [{ name: 'redis', state: 'unreadable', detail: (err as Error).message }];
    } finally {
      redis.close();
    }
  }

  private async readAll(redis: RedisCommands): Promise<SignalReading[]> {
    const out: SignalReading[] = [];
    const streams = (await scan(redis, `${DALSTON_KEYS.engineStreamPrefix}*`, 'stream')).sort();
    for (const key of streams) {
      const engine = key.slice(DALSTON_KEYS.engineStreamPrefix.length);
      out.push(await this.stream(redis, `queue ${engine}`, key, DALSTON_KEYS.engineGroup));
    }
    if ((await commandOk(redis, ['EXISTS', DALSTON_KEYS.eventsStream])) === 1)
      out.push(
        await this.stream(redis, 'orchestrator events', DALSTON_KEYS.eventsStream, DALSTON_KEYS.eventsGroup),
      );
    out.push(
      countReading(
        'waiting engine tasks',
        asCount(await commandOk(redis, ['SCARD', DALSTON_KEYS.waitingEngineTasks])),
      ),
    );
    out.push(
      countReading(
        'realtime sessions',
        asCount(await commandOk(redis, ['SCARD', DALSTON_KEYS.realtimeSessions])),
      ),
    );
    const engines = (await scan(redis, `${DALSTON_KEYS.engineInstancePrefix}*`, 'hash')).sort();
    for (const key of engines) {
      const hash = pairs(await commandOk(redis, ['HGETALL', key]));
      out.push(engineReading(key.slice(DALSTON_KEYS.engineInstancePrefix.length), hash));
    }
    return out;
  }

  private async stream(
    redis: RedisCommands,
    name: string,
    key: string,
    groupName: string,
  ): Promise<SignalReading> {
    const groups = await commandOk(redis, ['XINFO', 'GROUPS', key]);
    const raw = Array.isArray(groups) ? groups.map(pairs).find((g) => g.name === groupName) : undefined;
    if (!raw) {
      const any = await commandOk(redis, ['XRANGE', key, '-', '+', 'COUNT', 1]);
      return streamReading(name, { group: null, groupName, undelivered: listLength(any), stuckPending: 0 });
    }
    const group: GroupInfo = {
      pending: Number(raw.pending ?? 0),
      lag: typeof raw.lag === 'number' ? raw.lag : null,
      lastDeliveredId: String(raw['last-delivered-id'] ?? '0-0'),
    };
    // XLEN is no measure (Dalston never trims its streams); when Redis cannot give the lag,
    // look for any entry after the last delivered one.
    const undelivered =
      group.lag === null
        ? listLength(await commandOk(redis, ['XRANGE', key, `(${group.lastDeliveredId}`, '+', 'COUNT', 1]))
        : null;
    const stuck =
      group.pending > 0
        ? listLength(
            await commandOk(redis, [
              'XPENDING',
              key,
              groupName,
              'IDLE',
              this.stuckPendingMs,
              '-',
              '+',
              group.pending,
            ]),
          )
        : 0;
    return streamReading(name, { group, groupName, undelivered, stuckPending: stuck ?? 0 });
  }
}

async function scan(redis: RedisCommands, match: string, type: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const reply = await commandOk(redis, ['SCAN', cursor, 'MATCH', match, 'COUNT', 200, 'TYPE', type]);
    if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1]))
      throw new Error(`redis SCAN: unexpected reply ${JSON.stringify(reply)}`);
    cursor = String(reply[0]);
    for (const k of reply[1]) keys.add(String(k));
  } while (cursor !== '0');
  return [...keys];
}

function asCount(v: RespValue): number | null {
  return typeof v === 'number' ? v : null;
}

function listLength(v: RespValue): number | null {
  return Array.isArray(v) ? v.length : null;
}
