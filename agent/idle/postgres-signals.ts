import { findPostgres, type PostgresDocker, type PostgresTarget, psqlValue } from '../../backup/postgres.ts';
import type { IdleSignalSource } from './redis-signals.ts';
import type { SignalReading } from './signals.ts';

/**
 * Dalston's work in flight as its database records it: `jobs.status` in
 * pending|running|cancelling and `tasks.status` in pending|ready|running.
 *
 * Read with `psql` inside the running Postgres container (`docker exec`, found
 * by compose labels like the backup does) rather than with a client library:
 * nothing is added to the agent's memory or dependencies, nothing stays
 * connected between polls, and no password is needed (the local socket). An
 * exec costs a few tens of milliseconds every poll, which is nothing at a poll
 * every 30 s.
 *
 * Anything that keeps the counts from being read — the container not running,
 * the tables not there (a database not migrated yet), psql failing or hanging —
 * is `unreadable`, which the policy counts as busy.
 */
export const ACTIVE_JOB_STATES = ['pending', 'running', 'cancelling'] as const;
export const ACTIVE_TASK_STATES = ['pending', 'ready', 'running'] as const;

const list = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');

/**
 * One line per table and active state: `jobs|pending|3`. `lower(status::text)`
 * because the column may be a Postgres enum or text, and an ORM may store the
 * enum's upper-case names.
 */
export const ACTIVE_WORK_SQL = [
  `SELECT 'jobs', lower(status::text), count(*) FROM jobs WHERE lower(status::text) IN (${list(ACTIVE_JOB_STATES)}) GROUP BY 2`,
  'UNION ALL',
  `SELECT 'tasks', lower(status::text), count(*) FROM tasks WHERE lower(status::text) IN (${list(ACTIVE_TASK_STATES)}) GROUP BY 2`,
  'ORDER BY 1, 2',
].join(' ');

/** Which of the two tables exist: `jobs,tasks` minus those missing. */
const TABLES_SQL =
  "SELECT concat_ws(',', CASE WHEN to_regclass('jobs') IS NOT NULL THEN 'jobs' END, CASE WHEN to_regclass('tasks') IS NOT NULL THEN 'tasks' END)";

/** Pure: the readings from ACTIVE_WORK_SQL's output (`-At`: `|`-separated lines). */
export function postgresReadings(output: string): SignalReading[] {
  const counts = { jobs: new Map<string, number>(), tasks: new Map<string, number>() };
  for (const line of output.split('\n')) {
    if (!line.trim()) continue;
    const [table, state, n] = line.split('|');
    const count = Number(n);
    if ((table !== 'jobs' && table !== 'tasks') || !state || !Number.isInteger(count))
      throw new Error(`unexpected psql line ${JSON.stringify(line)}`);
    counts[table].set(state, count);
  }
  const reading = (table: 'jobs' | 'tasks', states: readonly string[]): SignalReading => {
    const name = `database ${table}`;
    const m = counts[table];
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    if (total === 0) return { name, state: 'idle', detail: `none ${states.join('/')}` };
    const detail = states
      .filter((s) => m.has(s))
      .map((s) => `${m.get(s)} ${s}`)
      .join(', ');
    return { name, state: 'busy', detail };
  };
  return [reading('jobs', ACTIVE_JOB_STATES), reading('tasks', ACTIVE_TASK_STATES)];
}

export interface PostgresSignalsOptions {
  project: string;
  /** backup.postgresService. */
  service: string;
  database?: string | undefined;
  user?: string | undefined;
  /** A psql that has not answered by then is unreadable (and is ended). */
  timeoutMs?: number;
}

export class PostgresIdleSignals implements IdleSignalSource {
  /** The container whose tables were found at the last successful read. */
  private known: PostgresTarget | null = null;

  constructor(
    private readonly docker: PostgresDocker,
    private readonly o: PostgresSignalsOptions,
  ) {}

  async read(): Promise<SignalReading[]> {
    const timeoutMs = this.o.timeoutMs ?? 10_000;
    try {
      return await withTimeout(this.readAll(), timeoutMs, `psql gave no answer within ${timeoutMs} ms`);
    } catch (err) {
      return [{ name: 'database', state: 'unreadable', detail: (err as Error).message }];
    }
  }

  private async readAll(): Promise<SignalReading[]> {
    // One exec per poll once the container and its tables are known: the look-up (a list and an
    // inspect per container) and the table check cost more than the count. Any failure forgets
    // them, so a recreated container or a restored database is looked up afresh the same poll.
    if (this.known) {
      try {
        return postgresReadings(await this.psql(this.known, ACTIVE_WORK_SQL));
      } catch {
        this.known = null;
      }
    }
    const { target } = await findPostgres(this.docker, this.o);
    const tables = await this.psql(target, TABLES_SQL);
    const missing = ['jobs', 'tasks'].filter((t) => !tables.split(',').includes(t));
    if (missing.length > 0)
      throw new Error(`no table ${missing.join(', ')} in database ${target.database} (not migrated yet?)`);
    const readings = postgresReadings(await this.psql(target, ACTIVE_WORK_SQL));
    this.known = target;
    return readings;
  }

  private psql(target: PostgresTarget, sql: string): Promise<string> {
    return psqlValue(this.docker, target, sql);
  }
}

/** Rejects with `message` after `ms`; the work itself is left to settle (its result is dropped). */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  work.catch(() => {});
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
