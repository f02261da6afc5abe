import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOAD_IMAGES } from '../../../rehearsal/product/machine-files.ts';
import {
  expectedMarksDigest,
  parseMarks,
  READ_MARKS_SQL,
  writeMarksSql,
} from '../../../rehearsal/world/db-images.ts';
import { ZxShell } from '../../../shared/shell.ts';
import {
  CUSTOMISE_SCRIPT,
  DB_IDS,
  DB_RECIPE_LABEL,
  dbImageHash,
  PGDATA,
  POSTGRES_ENTRYPOINT,
  REDIS_ENTRYPOINT,
} from '../../harness/debian-images.ts';
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  composeCli,
  dockerFromEnv,
  removeComposeProject,
  runLabels,
  uniqueProjectName,
} from '../../harness/docker.ts';
import { ENV } from '../../harness/paths.ts';
import {
  clusterState,
  crashRecoveryLines,
  lastStartLog,
  startedFromCleanShutdown,
} from '../../harness/postgres-state.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';
import { eventually } from '../agent/agent-process.ts';

const file = fileURLToPath(new URL('../../fixtures/compose/databases/compose.yaml', import.meta.url));

/** Pure: a flat `redis-cli` reply (one element a line, as it prints when not on a terminal) as pairs. */
function pairs(reply: string): Record<string, string> {
  const l = reply.trim().split('\n');
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < l.length; i += 2) out[l[i]!] = l[i + 1]!;
  return out;
}

describe('Postgres and Redis images built from Debian packages (test/harness/debian-images.ts)', () => {
  const docker = dockerFromEnv();
  const shell = new ZxShell();
  const project = uniqueProjectName('databases');
  const dataDir = path.join(requireEnv(ENV.tmp), `databases-${randomBytes(3).toString('hex')}`);
  const password = randomBytes(9).toString('hex');
  const env = { DB_DATA_DIR: dataDir, POSTGRES_PASSWORD: password };
  const url = (pw: string) => `postgresql://dalston:${pw}@postgres:5432/dalston`;

  const compose = (args: string[]) => composeCli(['-p', project, '-f', file, ...args], { env });
  const composeOk = async (args: string[]) => {
    const r = await compose(args);
    expect(r.exitCode, `docker compose ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** psql over TCP from the client container, with the password in the URL. */
  const psql = (sql: string, pw = password) =>
    compose(['exec', '-T', 'client', 'psql', url(pw), '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql]);
  const redis = async (...args: string[]) =>
    (await composeOk(['exec', '-T', 'client', 'redis-cli', '-h', 'redis', ...args])).trim();
  const container = async (service: string) => {
    const [c] = await docker.listContainers({
      all: true,
      filters: { label: [`${COMPOSE_PROJECT_LABEL}=${project}`, `${COMPOSE_SERVICE_LABEL}=${service}`] },
    });
    if (!c) throw new Error(`no ${service} container in ${project}`);
    return docker.getContainer(c.Id);
  };
  const logs = async (service: string) =>
    (await container(service)).logs({ stdout: true, stderr: true, follow: false }).then((b) => {
      // Multiplexed stream frames: 8-byte headers before each chunk.
      const buf = b as unknown as Buffer;
      const parts: Buffer[] = [];
      for (let i = 0; i + 8 <= buf.length; ) {
        const n = buf.readUInt32BE(i + 4);
        parts.push(buf.subarray(i + 8, i + 8 + n));
        i += 8 + n;
      }
      return Buffer.concat(parts).toString('utf8');
    });
  /** pg_controldata on the bind-mounted data dir, from a one-off container of the image (Postgres not running). */
  const controlData = async () => composeOk(['run', '--rm', '--no-deps', '-T', 'postgres', 'pg_controldata']);

  beforeAll(async () => {
    // As the bootstrap's dirs step creates them on the data volume.
    await mkdir(path.join(dataDir, 'postgres'), { recursive: true });
    await chown(path.join(dataDir, 'postgres'), DB_IDS.postgres.uid, DB_IDS.postgres.gid);
    await chmod(path.join(dataDir, 'postgres'), 0o700);
    await mkdir(path.join(dataDir, 'redis'), { recursive: true });
    await chown(path.join(dataDir, 'redis'), DB_IDS.redis.uid, DB_IDS.redis.gid);
    await chmod(path.join(dataDir, 'redis'), 0o750);
    await composeOk(['up', '-d', '--wait']);
  });

  afterAll(async () => {
    await removeComposeProject(project, docker);
  });

  it('the images carry the recipe hash the harness built them from', async () => {
    const pgImage = await docker.getImage(requireEnv(ENV.pgImage)).inspect();
    const redisImage = await docker.getImage(requireEnv(ENV.redisImage)).inspect();
    expect(pgImage.Config.Labels?.[DB_RECIPE_LABEL]).toBe(dbImageHash());
    expect(redisImage.Config.Labels?.[DB_RECIPE_LABEL]).toBe(dbImageHash());
    // docker stop sends SIGINT (fast shutdown), as with the official image.
    expect((pgImage.Config as { StopSignal?: string }).StopSignal).toBe('SIGINT');
  });

  it('Postgres initialises the empty bind-mounted dir and runs as PID 1 with uid 70', async () => {
    const pgdata = path.join(dataDir, 'postgres', '18', 'docker');
    expect((await readFile(path.join(pgdata, 'PG_VERSION'), 'utf8')).trim()).toBe('15');
    const st = await stat(pgdata);
    expect(st.uid).toBe(DB_IDS.postgres.uid);
    expect(st.mode & 0o777).toBe(0o700);
    // The entrypoint answers pg_isready from its temporary initdb server before it execs postgres:
    // PID 1 becomes postgres shortly after the container first reports healthy.
    const status = await eventually(
      async () => {
        const s = await composeOk(['exec', '-T', 'postgres', 'cat', '/proc/1/status']);
        return /^Name:\s+postgres$/m.test(s) ? s : null;
      },
      60_000,
      'postgres as PID 1',
    );
    expect(status).toMatch(/^Name:\s+postgres$/m);
    expect(status).toMatch(/^Uid:\s+70\s/m);
    // Dalston's healthcheck command, run the way Docker runs it.
    expect(await composeOk(['exec', '-T', 'postgres', 'sh', '-c', 'pg_isready -U dalston'])).toMatch(
      /accepting connections/,
    );
  });

  it('accepts psql with the password over TCP from another container and refuses a wrong one', async () => {
    const ok = await psql('SELECT current_user, current_database(), inet_server_addr() IS NOT NULL');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe('dalston|dalston|t');
    const bad = await psql('SELECT 1', 'not-the-password');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/password authentication failed for user "dalston"/);
  });

  it('runs queries that would be JIT-compiled (the JIT library is trimmed from the image)', async () => {
    const r = await psql(
      'SET jit = on; SET jit_above_cost = 0; SELECT sum(i) FROM generate_series(1, 100000) AS s(i)',
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').pop()).toBe('5000050000');
  });

  it('pg_dump -Fc through docker exec gives an archive that pg_restore reads', async () => {
    const t = await psql(
      'CREATE TABLE dumped (id int PRIMARY KEY, v text); INSERT INTO dumped VALUES (1, $$a$$)',
    );
    expect(t.exitCode, t.stderr).toBe(0);
    const r = await composeOk([
      'exec',
      '-T',
      'postgres',
      'sh',
      '-c',
      'pg_dump -U dalston -Fc -d dalston -f /tmp/d.dump && pg_restore --list /tmp/d.dump',
    ]);
    expect(r).toMatch(/TABLE public dumped dalston/);
  });

  it("the rehearsal's rows: written through psql, read back with the digest it expects", async () => {
    const nonce = randomBytes(8).toString('hex');
    const pgExec = (sql: string) =>
      composeOk([
        'exec',
        '-T',
        'postgres',
        'psql',
        '-U',
        'dalston',
        '-d',
        'dalston',
        '-v',
        'ON_ERROR_STOP=1',
        '-At',
        '-c',
        sql,
      ]);
    await pgExec(writeMarksSql(nonce));
    const marks = parseMarks(await pgExec(READ_MARKS_SQL));
    expect(marks).toMatchObject({ count: 1000, digest: expectedMarksDigest(nonce), dataDirectory: PGDATA });
    const file = await stat(path.join(dataDir, 'postgres', '18', 'docker', marks.relationFile));
    expect(file.size).toBeGreaterThan(0);
    expect(file.uid).toBe(DB_IDS.postgres.uid);
  });

  it('docker stop is a clean shutdown (pg_controldata: shut down); the data is intact after start', async () => {
    const w = await psql(
      'CREATE TABLE marks (i int PRIMARY KEY, v text); INSERT INTO marks SELECT i, md5(i::text) FROM generate_series(1, 1000) i; SELECT md5(string_agg(v, $$,$$ ORDER BY i)) FROM marks',
    );
    expect(w.exitCode, w.stderr).toBe(0);
    const digest = w.stdout.trim().split('\n').pop();

    const t0 = Date.now();
    await composeOk(['stop', 'postgres']);
    // Well under Docker's 10 s grace period, and by itself: SIGKILL would exit 137.
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect((await (await container('postgres')).inspect()).State.ExitCode).toBe(0);
    expect(clusterState(await controlData())).toBe('shut down');

    await composeOk(['up', '-d', '--wait', 'postgres']);
    const r = await psql('SELECT count(*), md5(string_agg(v, $$,$$ ORDER BY i)) FROM marks');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`1000|${digest}`);
    const start = lastStartLog(await logs('postgres'));
    expect(startedFromCleanShutdown(start), start).toBe(true);
  });

  it('the same checks see a killed Postgres as unclean, and it recovers on start', async () => {
    await (await container('postgres')).kill({ signal: 'SIGKILL' });
    expect(clusterState(await controlData())).toBe('in production');
    await composeOk(['up', '-d', '--wait', 'postgres']);
    const start = lastStartLog(await logs('postgres'));
    expect(startedFromCleanShutdown(start)).toBe(false);
    expect(crashRecoveryLines(start).join('\n')).toMatch(/not properly shut down/);
    const r = await psql('SELECT count(*) FROM marks');
    expect(r.stdout.trim()).toBe('1000');
  });

  it('refuses to initialise without a password, like the official image', async () => {
    const r = await shell.run('docker', [
      'run',
      '--rm',
      ...Object.entries(runLabels()).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      '-e',
      'POSTGRES_USER=dalston',
      requireEnv(ENV.pgImage),
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/superuser password is not specified/);
  });

  it('Redis answers PING from another container and runs as PID 1 with uid 999', async () => {
    expect(await redis('ping')).toBe('PONG');
    const status = await composeOk(['exec', '-T', 'redis', 'cat', '/proc/1/status']);
    expect(status).toMatch(/^Name:\s+redis-server$/m);
    expect(status).toMatch(/^Uid:\s+999\s/m);
    expect(await composeOk(['exec', '-T', 'redis', 'redis-cli', 'ping'])).toMatch(/^PONG/);
    expect(await redis('info', 'server')).toMatch(/^redis_version:7\.0\./m);
  });

  it('Redis streams and consumer groups: XINFO GROUPS reports the lag', async () => {
    await redis('xadd', 'jobs', '*', 'job', '1');
    await redis('xadd', 'jobs', '*', 'job', '2');
    expect(await redis('xgroup', 'create', 'jobs', 'workers', '0')).toBe('OK');
    await redis('xreadgroup', 'GROUP', 'workers', 'w1', 'COUNT', '1', 'STREAMS', 'jobs', '>');
    const g = pairs(await redis('xinfo', 'groups', 'jobs'));
    expect(g).toMatchObject({ name: 'workers', consumers: '1', pending: '1', 'entries-read': '1', lag: '1' });
  });

  it('Redis keeps its data across docker stop/start (AOF and the final save); stop is clean', async () => {
    await redis('set', 'greeting', 'hello');
    await redis('hset', 'job:1', 'state', 'done');
    await redis('sadd', 'engines', 'a', 'b');
    await composeOk(['stop', 'redis']);
    expect((await (await container('redis')).inspect()).State.ExitCode).toBe(0);
    expect(await logs('redis')).toMatch(/ready to exit, bye bye/);
    const aof = await stat(path.join(dataDir, 'redis', 'appendonlydir'));
    expect(aof.uid).toBe(DB_IDS.redis.uid);

    await composeOk(['up', '-d', '--wait', 'redis']);
    expect(await redis('get', 'greeting')).toBe('hello');
    expect(await redis('hget', 'job:1', 'state')).toBe('done');
    expect((await redis('smembers', 'engines')).split('\n').sort()).toEqual(['a', 'b']);
    expect(pairs(await redis('xinfo', 'groups', 'jobs')).name).toBe('workers');
  });

  it("the entrypoints, the rootfs customisation and the rehearsal's image loader pass shellcheck", async () => {
    const shellcheck = requireCommand('shellcheck', 'apt-get install shellcheck');
    const dir = path.join(dataDir, 'scripts');
    await mkdir(dir, { recursive: true });
    const files = { 'postgres-entrypoint.sh': POSTGRES_ENTRYPOINT, 'redis-entrypoint.sh': REDIS_ENTRYPOINT };
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    await writeFile(path.join(dir, 'customise.sh'), `#!/bin/sh\n${CUSTOMISE_SCRIPT}`);
    await writeFile(path.join(dir, 'load-images.sh'), LOAD_IMAGES);
    const r = await shell.run(shellcheck, [
      '-s',
      'sh',
      ...[...Object.keys(files), 'customise.sh', 'load-images.sh'].map((f) => path.join(dir, f)),
    ]);
    expect(r.exitCode, r.stdout).toBe(0);
  });
});
