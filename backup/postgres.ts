import type { ContainerExec, ContainerInfo, DockerClient } from '../shared/engine/docker/types.ts';
import { HostError } from '../shared/errors.ts';

/**
 * The stack's Postgres, reached inside its own container (`docker exec`): the
 * client tools there match the server, no port or password is needed (the
 * local socket), and nothing is installed on the host.
 */
export type PostgresDocker = Pick<DockerClient, 'listProjectContainers'> & ContainerExec;

export interface PostgresTarget {
  containerId: string;
  service: string;
  database: string;
  user: string;
}

/**
 * The running container of `service` in the compose project, found by compose
 * labels (never by name), and the database and role to use: host.json's, or
 * the container's POSTGRES_DB / POSTGRES_USER (what the stack created).
 */
export async function findPostgres(
  docker: PostgresDocker,
  opts: { project: string; service: string; database?: string | undefined; user?: string | undefined },
): Promise<{ target: PostgresTarget; containers: ContainerInfo[] }> {
  const containers = await docker.listProjectContainers(opts.project);
  const pg = containers.find((c) => c.service === opts.service && c.state === 'running');
  if (!pg) {
    const seen = containers.find((c) => c.service === opts.service);
    throw new HostError(
      'failure',
      seen
        ? `the ${opts.service} container of compose project ${opts.project} is ${seen.state}, not running`
        : `no container of compose service ${opts.service} in project ${opts.project} (is the stack up? see dalston-host status)`,
    );
  }
  const env = await docker.containerEnv(pg.id);
  const user = opts.user ?? env.POSTGRES_USER ?? 'postgres';
  return {
    target: {
      containerId: pg.id,
      service: opts.service,
      database: opts.database ?? env.POSTGRES_DB ?? user,
      user,
    },
    containers,
  };
}

const psqlArgs = (t: PostgresTarget) => ['-X', '-U', t.user, '-d', t.database, '--no-password'];

/** `pg_dump` of the whole database in custom format (compressed, restorable by pg_restore) to stdout. */
export function pgDumpCommand(t: PostgresTarget): string[] {
  return ['pg_dump', '-U', t.user, '-d', t.database, '--no-password', '--format=custom'];
}

/**
 * `pg_restore` from stdin over the existing database: objects are dropped and
 * recreated (`--clean --if-exists`) in one transaction, so a failure leaves the
 * database as it was; ownership follows the connecting role (`--no-owner`).
 */
export function pgRestoreCommand(t: PostgresTarget): string[] {
  return [
    'pg_restore',
    '-U',
    t.user,
    '-d',
    t.database,
    '--no-password',
    '--clean',
    '--if-exists',
    '--no-owner',
    '--single-transaction',
  ];
}

/** One value from a query, through psql in the container; throws with psql's own message. */
export async function psqlValue(docker: PostgresDocker, t: PostgresTarget, sql: string): Promise<string> {
  const run = await docker.exec(t.containerId, {
    cmd: ['psql', ...psqlArgs(t), '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql],
  });
  const chunks: Buffer[] = [];
  for await (const c of run.stdout) chunks.push(c as Buffer);
  const { exitCode, stderr } = await run.done;
  if (exitCode !== 0) {
    throw new Error(`psql in ${t.service} exited ${exitCode}: ${lastLine(stderr) || '(no message)'}`);
  }
  return Buffer.concat(chunks).toString('utf8').trim();
}

export interface DatabaseFacts {
  postgresVersion: string;
  /** alembic_version's revision(s), comma-separated; null when the table is absent or empty. */
  alembicRevision: string | null;
}

/** The server version and the schema's Alembic revision (`SELECT version_num FROM alembic_version`). */
export async function databaseFacts(docker: PostgresDocker, t: PostgresTarget): Promise<DatabaseFacts> {
  const [version = '', hasTable] = (
    await psqlValue(
      docker,
      t,
      "SELECT current_setting('server_version') || '|' || CASE WHEN to_regclass('alembic_version') IS NULL THEN 'no' ELSE 'yes' END",
    )
  ).split('|');
  const revision =
    hasTable === 'yes'
      ? await psqlValue(
          docker,
          t,
          "SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version",
        )
      : '';
  return { postgresVersion: version, alembicRevision: revision === '' ? null : revision };
}

/** The last non-empty line of a command's stderr: its own one-line reason. */
export function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? ''
  );
}
