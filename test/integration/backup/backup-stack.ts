/**
 * A Dalston-shaped stack for backup and restore tests and the backup benchmark:
 * real Postgres 15 (the harness's image) with Dalston's environment and
 * healthcheck, a gateway and an orchestrator that depend on it (busybox
 * stand-ins), redis and an engine that do not; a stand-in Dalston checkout
 * with Alembic migration scripts; an s3rver bucket reached through a proxy that
 * a test can cut (an S3 outage); the host.json every `dalston-host` command of
 * the test reads.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import type { HostConfigInput } from '../../../shared/config/schema.ts';
import { DB_IDS } from '../../harness/debian-images.ts';
import { composeCli, dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { ENV } from '../../harness/paths.ts';
import { requireEnv } from '../../harness/require.ts';
import { S3RVER_CREDENTIALS, startS3rver } from '../../helpers/s3rver.ts';

export const BIN = fileURLToPath(new URL('../../../bin/dalston-host.mjs', import.meta.url));
export const BUCKET = 'dalston-backup-test';
/** The revisions of the stand-in checkout's migration scripts (Dalston's file shape). */
export const KNOWN_REVISIONS = ['0001_initial_schema', '0002_add_task_ready_at'];

/** A TCP proxy in front of the S3 server that can be cut (connections dropped, new ones refused). */
export class CuttableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;
  /** Bytes sent towards the S3 server since the proxy started. */
  upstreamBytes = 0;
  private cutAfter: number | null = null;
  onCut: (() => void) | null = null;

  constructor(private readonly targetPort: number) {}

  async listen(port = 0): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.on('data', (d: Buffer) => {
        this.upstreamBytes += d.length;
        if (this.cutAfter !== null && this.upstreamBytes >= this.cutAfter) {
          this.cutAfter = null;
          void this.cut().then(() => this.onCut?.());
          return;
        }
        if (!upstream.write(d)) client.pause();
      });
      upstream.on('drain', () => client.resume());
      upstream.pipe(client);
      client.on('end', () => upstream.end());
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** The outage starts once this many more bytes went upstream. */
  cutAfterBytes(n: number): void {
    this.cutAfter = this.upstreamBytes + n;
  }

  /** Outage: every connection dropped, the port closed (connections are refused). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Back on the same port. */
  async restore(): Promise<void> {
    if (!this.server) await this.listen(this.port);
  }
}

export interface BackupStack {
  dir: string;
  project: string;
  configFile: string;
  stateFile: string;
  runDir: string;
  checkout: string;
  s3: { endpoint: string; client: S3Client; proxy: CuttableProxy; dir: string };
  /** The agent's address (agent.listen): free when the stack starts; the test starts the agent. */
  agentListen: string;
  /** Env for every dalston-host process of the test (S3 credentials, no IMDS). */
  env: Record<string, string>;
  psql(sql: string): Promise<string>;
  compose(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** `dalston-host <args>` (the checkout launcher, or `program`) with the stack's env. */
  host(
    args: string[],
    opts?: { program?: string; onSpawn?: (pid: number) => void },
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Pure: a migration script shaped like Dalston's (alembic/versions/*.py). */
export function migrationScript(revision: string, down: string | null): string {
  return [
    `"""${revision}.`,
    '',
    `Revision ID: ${revision}`,
    `Revises: ${down ?? ''}`,
    '"""',
    '',
    'from alembic import op',
    '',
    '# revision identifiers, used by Alembic.',
    `revision: str = "${revision}"`,
    `down_revision: str | None = ${down ? `"${down}"` : 'None'}`,
    'branch_labels = None',
    'depends_on = None',
    '',
    '',
    'def upgrade() -> None:',
    '    pass',
    '',
  ].join('\n');
}

function composeFile(images: { pg: string; redis: string; standin: string }, dataDir: string) {
  // Lenient: a backup of a large table loads the 2 shared cores, and a missed probe is not what is tested here.
  const healthy = {
    test: ['CMD', 'test', '-f', '/tmp/healthy'],
    interval: '2s',
    timeout: '10s',
    retries: 5,
    start_period: '600s',
  };
  const standin = (extra: Record<string, unknown>) => ({
    image: images.standin,
    pull_policy: 'never',
    init: true,
    restart: 'unless-stopped',
    stop_grace_period: '2s',
    command: ['sh', '-c', 'touch /tmp/healthy; exec sleep infinity'],
    healthcheck: healthy,
    ...extra,
  });
  const onPostgres = { postgres: { condition: 'service_healthy' } };
  return {
    services: {
      postgres: {
        image: images.pg,
        pull_policy: 'never',
        environment: { POSTGRES_USER: 'dalston', POSTGRES_PASSWORD: 'password', POSTGRES_DB: 'dalston' },
        volumes: [`${dataDir}/postgres:/var/lib/postgresql`],
        healthcheck: {
          test: ['CMD-SHELL', 'pg_isready -U dalston'],
          interval: '1s',
          timeout: '5s',
          retries: 30,
          // initdb has taken minutes on a loaded machine; failed probes before then do not count.
          start_period: '600s',
        },
        restart: 'unless-stopped',
      },
      redis: {
        image: images.redis,
        pull_policy: 'never',
        healthcheck: {
          test: ['CMD', 'redis-cli', 'ping'],
          interval: '1s',
          timeout: '5s',
          retries: 30,
          start_period: '600s',
        },
        restart: 'unless-stopped',
      },
      gateway: standin({ depends_on: onPostgres }),
      orchestrator: standin({ depends_on: onPostgres }),
      'stt-transcribe': standin({ depends_on: { redis: { condition: 'service_healthy' } } }),
    },
  };
}

/**
 * Creates the stack's files and brings it up with `compose up --wait` (the
 * agent, when a test starts one, adopts it). `config` is merged into host.json.
 */
export async function startBackupStack(
  tag: string,
  config: Partial<HostConfigInput> = {},
): Promise<BackupStack> {
  const project = uniqueProjectName(tag);
  const dir = await mkdtemp(path.join(requireEnv(ENV.tmp), `${tag}-`));
  const dataDir = path.join(dir, 'data');
  await mkdir(path.join(dataDir, 'postgres'), { recursive: true });
  await chown(path.join(dataDir, 'postgres'), DB_IDS.postgres.uid, DB_IDS.postgres.gid);
  await chmod(path.join(dataDir, 'postgres'), 0o700);
  await writeHostSecrets(dataDir);

  // The stand-in Dalston checkout: compose file and migration scripts.
  const checkout = path.join(dir, 'dalston', 'v9.9.9-test');
  await mkdir(path.join(checkout, 'alembic', 'versions', '_archived'), { recursive: true });
  const images = {
    pg: requireEnv(ENV.pgImage),
    redis: requireEnv(ENV.redisImage),
    standin: requireEnv('DALSTON_TEST_IMAGE'),
  };
  await writeFile(
    path.join(checkout, 'docker-compose.yml'),
    JSON.stringify(composeFile(images, dataDir), null, 2),
  );
  await writeFile(
    path.join(checkout, 'alembic', 'versions', `${KNOWN_REVISIONS[0]}.py`),
    migrationScript(KNOWN_REVISIONS[0]!, null),
  );
  await writeFile(
    path.join(checkout, 'alembic', 'versions', `20260405_${KNOWN_REVISIONS[1]}.py`),
    migrationScript(KNOWN_REVISIONS[1]!, KNOWN_REVISIONS[0]!),
  );
  // Alembic does not read subdirectories: a revision only in _archived/ is not known.
  await writeFile(
    path.join(checkout, 'alembic', 'versions', '_archived', '0000_archived.py'),
    migrationScript('0000_archived', null),
  );

  const s3 = await startS3rver(BUCKET);
  const proxy = new CuttableProxy(s3.port);
  await proxy.listen();
  const endpoint = `http://127.0.0.1:${proxy.port}`;
  const client = s3.client;

  const gateway: HttpServer = createHttpServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
  const agentListen = `127.0.0.1:${await freePort()}`;
  const stateFile = path.join(dir, 'state', 'backup.json');
  const runDir = path.join(dir, 'run');
  const configFile = path.join(dir, 'host.json');
  const hostConfig: HostConfigInput = {
    dataDir,
    compose: { project, workingDir: checkout, files: ['docker-compose.yml'] },
    agent: {
      listen: agentListen,
      requireDataMount: false,
      gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/health`,
      reconcileIntervalSeconds: 3,
      backoff: { initialSeconds: 2, maxSeconds: 4, resetAfterHealthySeconds: 600 },
      stopGraceSeconds: 5,
    },
    s3: { bucket: BUCKET, endpoint },
    dalston: { ref: 'v9.9.9-test' },
    ...config,
    backup: { stateFile, runDir, partSizeMiB: 5, restoreHealthySeconds: 120, ...config.backup },
  };
  await writeFile(configFile, JSON.stringify(hostConfig, null, 2));

  const env = {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const compose = (args: string[]) =>
    composeCli(['-p', project, '--project-directory', checkout, '-f', 'docker-compose.yml', ...args], {
      cwd: checkout,
      // First start runs initdb, which has taken minutes on a loaded machine.
      timeoutMs: 600_000,
    });
  const up = await compose(['up', '-d', '--wait']);
  if (up.exitCode !== 0) throw new Error(`compose up failed: ${up.stderr}`);

  const psqlOnce = async (sql: string): Promise<string> => {
    const r = await compose([
      'exec',
      '-T',
      'postgres',
      'psql',
      '-U',
      'dalston',
      '-d',
      'dalston',
      '-X',
      '-v',
      'ON_ERROR_STOP=1',
      '-At',
      '-c',
      sql,
    ]);
    if (r.exitCode !== 0) throw new Error(`psql: ${r.stderr.trim()}`);
    return r.stdout.trim();
  };

  const docker = dockerFromEnv();
  return {
    dir,
    project,
    configFile,
    stateFile,
    runDir,
    checkout,
    s3: { endpoint, client, proxy, dir: s3.dir },
    agentListen,
    env,
    compose,
    async psql(sql) {
      // The test image's Postgres has been seen to lose a child to SIGPIPE under heavy load
      // and go through crash recovery; a setup query waits that out rather than failing.
      for (let attempt = 1; ; attempt++) {
        try {
          return await psqlOnce(sql);
        } catch (err) {
          if (attempt >= 20 || !CRASH_RECOVERY.test(String(err))) throw err;
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    },
    host(args, opts = {}) {
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [opts.program ?? BIN, ...args, '--config', configFile], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        if (child.pid) opts.onSpawn?.(child.pid);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    },
    async stop() {
      await removeComposeProject(project, docker).catch(() => {});
      gateway.close();
      await proxy.cut();
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What psql says while Postgres recovers from a crashed child (or is restarting). */
const CRASH_RECOVERY =
  /in recovery mode|is starting up|shutting down|terminating connection because of crash|server closed the connection unexpectedly|connection to server was lost/;

/** A random hex string (nonces for rows). */
export const nonce = () => randomBytes(8).toString('hex');
