import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresIdleSignals } from '../../../agent/idle/postgres-signals.ts';
import { DockerodeClient, dockerodeFromEnv } from '../../../shared/engine/docker/dockerode-client.ts';
import { LABEL_PROJECT, LABEL_SERVICE } from '../../../shared/engine/docker/types.ts';
import { dockerFromEnv, runLabels, uniqueProjectName } from '../../harness/docker.ts';
import { ENV } from '../../harness/paths.ts';
import { requireEnv } from '../../harness/require.ts';

/**
 * Dalston's work in flight read from a real Postgres 15 (the harness's image):
 * the container is found by compose labels, like the stack's, and counted
 * through psql inside it. Tables shaped like Dalston's `jobs` and `tasks`.
 */

let docker: Docker;
let container: Docker.Container | undefined;
const project = uniqueProjectName('idle-pg');
const client = new DockerodeClient(dockerodeFromEnv());
const signals = new PostgresIdleSignals(client, { project, service: 'postgres', timeoutMs: 20_000 });
const states = async () => (await signals.read()).map((r) => [r.name, r.state, r.detail]);

async function psql(sql: string): Promise<string> {
  const exec = await container!.exec({
    Cmd: ['psql', '-U', 'dalston', '-d', 'dalston', '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  const info = await exec.inspect();
  const out = Buffer.concat(chunks).toString('utf8');
  if (info.ExitCode !== 0) throw new Error(`psql ${sql}: ${out}`);
  return out;
}

beforeAll(async () => {
  docker = dockerFromEnv();
  container = await docker.createContainer({
    Image: requireEnv(ENV.pgImage),
    Env: ['POSTGRES_USER=dalston', 'POSTGRES_PASSWORD=password', 'POSTGRES_DB=dalston'],
    Labels: { ...runLabels(), [LABEL_PROJECT]: project, [LABEL_SERVICE]: 'postgres' },
    HostConfig: { NetworkMode: 'none' },
  });
  await container.start();
  // initdb, then the server on its socket; has taken over a minute on a loaded machine.
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      await psql('SELECT 1');
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}, 320_000);

afterAll(async () => {
  await container?.remove({ force: true }).catch(() => {});
});

describe('the Postgres work signal, from a real Postgres in a compose-labelled container', () => {
  it('a database without the tables (not migrated yet) is unreadable, naming them', async () => {
    const r = await signals.read();
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ name: 'database', state: 'unreadable' });
    expect(r[0]!.detail).toContain('no table jobs, tasks in database dalston');
  });

  it('counts active jobs and tasks by state; finished ones are idle', async () => {
    // Dalston's status columns: an enum for jobs (upper-case names, as SQLAlchemy stores them), text for tasks.
    await psql(
      "CREATE TYPE jobstatus AS ENUM ('PENDING','RUNNING','CANCELLING','COMPLETED','FAILED','CANCELLED')",
    );
    await psql('CREATE TABLE jobs (id serial primary key, status jobstatus not null)');
    await psql('CREATE TABLE tasks (id serial primary key, job_id int, status text not null)');
    expect(await states()).toEqual([
      ['database jobs', 'idle', 'none pending/running/cancelling'],
      ['database tasks', 'idle', 'none pending/ready/running'],
    ]);

    await psql("INSERT INTO jobs (status) VALUES ('COMPLETED'), ('FAILED'), ('CANCELLED')");
    await psql("INSERT INTO tasks (job_id, status) VALUES (1, 'completed'), (1, 'failed'), (2, 'skipped')");
    expect((await signals.read()).map((r) => r.state)).toEqual(['idle', 'idle']);

    await psql("INSERT INTO jobs (status) VALUES ('PENDING'), ('PENDING'), ('RUNNING')");
    await psql("INSERT INTO tasks (job_id, status) VALUES (4, 'ready')");
    expect(await states()).toEqual([
      ['database jobs', 'busy', '2 pending, 1 running'],
      ['database tasks', 'busy', '1 ready'],
    ]);

    await psql("UPDATE jobs SET status = 'CANCELLING' WHERE status = 'RUNNING'");
    await psql("UPDATE jobs SET status = 'COMPLETED' WHERE status = 'PENDING'");
    await psql("UPDATE tasks SET status = 'completed'");
    expect(await states()).toEqual([
      ['database jobs', 'busy', '1 cancelling'],
      ['database tasks', 'idle', 'none pending/ready/running'],
    ]);
    await psql("UPDATE jobs SET status = 'CANCELLED'");
    expect((await signals.read()).map((r) => r.state)).toEqual(['idle', 'idle']);
  });

  it("a psql error (a table it cannot read) is unreadable with psql's own message", async () => {
    await psql('ALTER TABLE tasks RENAME COLUMN status TO state');
    const r = await signals.read();
    expect(r[0]).toMatchObject({ name: 'database', state: 'unreadable' });
    expect(r[0]!.detail).toMatch(/^psql in postgres exited 1: ./);
    await psql('ALTER TABLE tasks RENAME COLUMN state TO status');
    expect((await signals.read()).map((r) => r.state)).toEqual(['idle', 'idle']);
  });

  it('a stopped container is unreadable, not idle', async () => {
    await container!.stop({ t: 10 });
    const r = await signals.read();
    expect(r[0]).toMatchObject({ name: 'database', state: 'unreadable' });
    expect(r[0]!.detail).toContain('is exited, not running');
  }, 60_000);
});
