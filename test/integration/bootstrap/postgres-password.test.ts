import { chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSecretsEnv } from '../../../bootstrap/postgres-password.ts';
import { dataPaths } from '../../../shared/config/data-paths.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { composeTarget } from '../../../shared/engine/compose-cli.ts';
import type { ShellResult as ComposeResult } from '../../../shared/shell.ts';
import { composeCli, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';
import { requireEnv } from '../../harness/require.ts';
import { makeRoot, runBootstrap, sh, unmountAll } from './bootstrap-process.ts';

/**
 * The per-host Postgres password with real Postgres (DALSTON_TEST_PG_IMAGE) and
 * a Dalston-shaped compose file: `${POSTGRES_PASSWORD:-password}` for the
 * server and in the URL its clients use. A database made before the password
 * existed (Dalston's default) keeps working once the secrets step has set the
 * new one on it; a new database starts with the generated one.
 */

const MiB = 1024 * 1024;

/** Dalston's shape: the password interpolated into the server and into every client's URL. */
function dalstonShapedCompose(pgImage: string): string {
  return `services:
  postgres:
    image: ${pgImage}
    pull_policy: never
    environment:
      POSTGRES_USER: dalston
      POSTGRES_PASSWORD: \${POSTGRES_PASSWORD:-password}
      POSTGRES_DB: dalston
    volumes:
      - type: bind
        source: \${DALSTON_DATA_DIR:?}/postgres
        target: /var/lib/postgresql
        bind:
          create_host_path: false
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U dalston"]
      interval: 1s
      timeout: 5s
      retries: 60
  client:
    image: ${pgImage}
    pull_policy: never
    init: true
    command: ["sleep", "infinity"]
    environment:
      DATABASE_URL: postgresql://dalston:\${POSTGRES_PASSWORD:-password}@postgres:5432/dalston
`;
}

interface Host {
  dir: string;
  root: string;
  dataDir: string;
  config: ReturnType<typeof parseConfig>;
  loop: LoopDevice;
  project: string;
}

const hosts: Host[] = [];

/** A scratch host: a mounted loop-device filesystem as dataDir, the directories the dirs step makes, a compose project. */
async function host(tag: string): Promise<Host> {
  const project = uniqueProjectName(tag);
  const loop = await createLoopDevice({ sizeBytes: 256 * MiB });
  const work = { dir: '', root: '', dataDir: '' };
  try {
    await sh('mkfs.ext4', ['-q', loop.device]);
    const s = await makeRoot(() => ({}));
    Object.assign(work, s);
    await mkdir(s.dataDir);
    await sh('mount', [loop.device, s.dataDir]);
    const paths = dataPaths(s.dataDir);
    await mkdir(paths.subdirs.postgres, { mode: 0o700 });
    await chown(paths.subdirs.postgres, 70, 70);
    await mkdir(paths.subdirs.secrets, { mode: 0o700 });
    const stack = join(s.dir, 'stack');
    await mkdir(stack);
    await writeFile(
      join(stack, 'docker-compose.yml'),
      dalstonShapedCompose(requireEnv('DALSTON_TEST_PG_IMAGE')),
    );
    const input = {
      dataDir: s.dataDir,
      compose: { project, workingDir: stack, files: ['docker-compose.yml'] },
    };
    await writeFile(join(s.root, 'etc/dalston/host.json'), JSON.stringify(input));
    const h = { ...s, config: parseConfig(input), loop, project };
    hosts.push(h);
    return h;
  } catch (err) {
    if (work.dir) await unmountAll(work.dir);
    await loop.detach();
    throw err;
  }
}

/** `docker compose` as the agent runs it (generous limit: Postgres's initdb on a loaded 2-core machine) (host.json's target, the secrets file included unless said otherwise). */
function compose(h: Host, args: string[], withSecrets = true, input?: string): Promise<ComposeResult> {
  const t = composeTarget(h.config, { withSecrets });
  // biome-ignore format: flag pairs
  return composeCli([
    '-p', t.project, '--project-directory', t.workingDir,
    ...t.files.flatMap((f) => ['-f', f]),
    ...t.envFiles.flatMap((e) => ['--env-file', e]),
    ...args,
  ], { cwd: t.workingDir, env: { DALSTON_DATA_DIR: h.dataDir }, timeoutMs: 480_000, ...(input ? { input } : {}) });
}

async function composeOk(h: Host, args: string[], withSecrets = true): Promise<string> {
  const r = await compose(h, args, withSecrets);
  expect(r.exitCode, `docker compose ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** psql over TCP from the client container, the password read from stdin (never argv). */
function psqlTcp(h: Host, password: string, sql: string, withSecrets = true): Promise<ComposeResult> {
  const script =
    'PGPASSWORD=$(cat) exec psql -h postgres -U dalston -d dalston -v ON_ERROR_STOP=1 -At -c "$1"';
  return compose(h, ['exec', '-T', 'client', 'sh', '-c', script, 'sh', sql], withSecrets, password);
}

/**
 * Until Postgres answers a query on TCP with `password`: the healthcheck (pg_isready on the local
 * socket) also passes while the entrypoint's socket-only init server runs, and a recreated
 * container may still be in crash recovery (a stop that outlasted its timeout on a loaded machine).
 */
async function waitForTcp(h: Host, password: string, withSecrets = true): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const r = await psqlTcp(h, password, 'SELECT 1', withSecrets);
    if (r.exitCode === 0) return;
    if (Date.now() > deadline) throw new Error(`Postgres never answered on TCP: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

beforeAll(() => {
  requireEnv('DALSTON_TEST_PG_IMAGE');
  requireEnv('DOCKER_CONFIG');
});

afterAll(async () => {
  for (const h of hosts) {
    await removeComposeProject(h.project).catch(() => 0);
    await unmountAll(h.dir);
    await h.loop.detach().catch(() => undefined);
    await rm(h.dir, { recursive: true, force: true });
  }
}, 600_000);

describe('the Postgres password (secrets step)', () => {
  it('an existing database made with the default password keeps working under the generated one', async () => {
    const h = await host('pgpw-existing');
    const { secretsEnv, pendingPostgresPassword } = dataPaths(h.dataDir);
    // Before this release: the stack ran without the secrets file, so Dalston's default applied.
    await composeOk(h, ['up', '-d', '--wait', 'postgres', 'client'], false);
    await waitForTcp(h, 'password', false);
    const made = await psqlTcp(
      h,
      'password',
      "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before'); SELECT v FROM kept",
      false,
    );
    expect(made.stdout.trim().split('\n').at(-1), made.stderr).toBe('before');
    // The instance is replaced: its containers are gone, the data volume keeps the cluster.
    await composeOk(h, ['down', '--timeout', '10'], false);

    const run = await runBootstrap(['--root', h.root, '--steps', 'secrets']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.steps.secrets).toMatchObject({
      result: 'done',
      detail: expect.stringContaining('set a generated password on the existing database'),
    });
    const text = await readFile(secretsEnv, 'utf8');
    const password = parseSecretsEnv(text)!;
    expect(password).toMatch(/^[0-9a-f]{64}$/);
    // Never in the bootstrap's own output (the step lines, the report).
    expect(run.stdout).not.toContain(password);
    expect(await readFile(join(h.root, 'var/lib/dalston/bootstrap.json'), 'utf8')).not.toContain(password);
    const st = await stat(secretsEnv);
    expect([st.mode & 0o777, st.uid, st.gid]).toEqual([0o600, 0, 0]);
    expect((await stat(dataPaths(h.dataDir).subdirs.secrets)).mode & 0o777).toBe(0o700);
    await expect(stat(pendingPostgresPassword)).rejects.toMatchObject({ code: 'ENOENT' });

    // The agent's next `compose up` (with the secrets file): recreated with the new password, data intact.
    await composeOk(h, ['up', '-d', '--wait', 'postgres', 'client']);
    await waitForTcp(h, password);
    const url = (await composeOk(h, ['exec', '-T', 'client', 'sh', '-c', 'echo "$DATABASE_URL"'])).trim();
    expect(url).toBe(`postgresql://dalston:${password}@postgres:5432/dalston`);
    const read = await psqlTcp(h, password, 'SELECT v FROM kept');
    expect(read.stdout.trim(), read.stderr).toBe('before');
    const old = await psqlTcp(h, 'password', 'SELECT 1');
    expect(old.exitCode).not.toBe(0);
    expect(old.stderr).toContain('password authentication failed');
    // Stored as a SCRAM verifier, computed by the step (the clear password never reached the server).
    const stored = await psqlTcp(h, password, "SELECT rolpassword FROM pg_authid WHERE rolname = 'dalston'");
    expect(stored.stdout.trim()).toMatch(/^SCRAM-SHA-256\$4096:/);

    // Every later boot: nothing to do.
    const again = await runBootstrap(['--root', h.root, '--steps', 'secrets']);
    expect(again.code).toBe(0);
    expect(again.steps.secrets?.result).toBe('unchanged');
    expect(await readFile(secretsEnv, 'utf8')).toBe(text);
  }, 1_200_000);

  it('a new database is initialised with the generated password; the default never works', async () => {
    const h = await host('pgpw-new');
    const run = await runBootstrap(['--root', h.root, '--steps', 'secrets']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.steps.secrets?.detail).toContain('generated the Postgres password for the new database');
    const password = parseSecretsEnv(await readFile(dataPaths(h.dataDir).secretsEnv, 'utf8'))!;
    await composeOk(h, ['up', '-d', '--wait', 'postgres', 'client']);
    await waitForTcp(h, password);
    expect((await psqlTcp(h, password, 'SELECT 42')).stdout.trim()).toBe('42');
    const old = await psqlTcp(h, 'password', 'SELECT 1');
    expect(old.stderr).toContain('password authentication failed');
  }, 1_200_000);
});
