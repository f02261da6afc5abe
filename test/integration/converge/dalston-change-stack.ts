/**
 * A running host for Dalston-change tests: a stand-in Dalston repository (a
 * local git repo whose tags v1.0.0…v1.4.0 carry different compose files), app
 * images tagged 1.0.0, 1.1.0 (healthy) and 1.2.0 (never healthy), real Postgres
 * with an `alembic_version` table, an s3rver bucket for the real pre-change
 * backup, and the stack up on v1.0.0 the way the bootstrap leaves it
 * (`<dataDir>/dalston/current` → the v1.0.0 checkout, the compose env naming
 * DALSTON_IMAGE_TAG). `hostConfig(ref, tag, services)` gives the host.json of a
 * version.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { NETWORK_LIMITS } from '../../../bootstrap/network-limits.ts';
import { ensureCheckout, swapSymlink } from '../../../bootstrap/steps/dalston.ts';
import { dataPaths } from '../../../shared/config/data-paths.ts';
import { type HostConfig, type HostConfigInput, hostConfigSchema } from '../../../shared/config/schema.ts';
import { ComposeCli, composeEnv, composeTarget } from '../../../shared/engine/compose-cli.ts';
import { ProcessShell } from '../../../shared/process-shell.ts';
import { systemClock } from '../../../shared/time/clock.ts';
import { DB_IDS } from '../../harness/debian-images.ts';
import { composeCli, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { ENV } from '../../harness/paths.ts';
import { requireEnv } from '../../harness/require.ts';
import { S3RVER_CREDENTIALS, startS3rver } from '../../helpers/s3rver.ts';

const run = promisify(execFile);

export const BUCKET = 'dalston-change-test';
export const REVISION = '0002_add_task_ready_at';
/** What v1.3.0's gateway writes into alembic_version before it fails (a migration, then a crash). */
export const MIGRATED_REVISION = '0003_new_schema';

/** The services each ref lists in host.json. */
export const SERVICES = {
  old: ['postgres', 'gateway', 'orchestrator', 'stt-old'],
  new: ['postgres', 'gateway', 'orchestrator', 'stt-new'],
};

export interface ChangeStack {
  dir: string;
  project: string;
  envFile: string;
  link: string;
  s3: S3Client;
  gatewayPort: number;
  appImage: string;
  hostConfig(ref: string, imageTag: string, services: string[], healthySeconds?: number): HostConfig;
  psql(sql: string): Promise<string>;
  /** What the stand-in gateway's /health answers: the image version serving. */
  gatewayVersion(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Puts the s3rver credentials in this process's environment, where the real backup
 * reads them (on a host, from the instance role). Returns what puts back the old values.
 */
export function useS3CredentialsEnv(): () => void {
  const env = {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An app image: the stand-in with a CMD that serves /health and marks itself healthy, or never does. */
async function buildAppImage(tag: string, version: string, healthy: boolean): Promise<void> {
  const cmd = healthy
    ? `mkdir -p /www && echo ${version} > /www/health && touch /tmp/healthy && exec httpd -f -p 8080 -h /www`
    : 'exec sleep 1000000';
  const dockerfile = [
    `FROM ${requireEnv(ENV.image)}`,
    `LABEL dalston-change-test.version=${version}`,
    `CMD ["sh", "-c", ${JSON.stringify(cmd)}]`,
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      'docker',
      ['build', '-q', '-t', tag, '-'],
      { env: { ...process.env, DOCKER_BUILDKIT: '0' } },
      (err) => (err ? reject(err) : resolve()),
    );
    child.stdin?.end(dockerfile);
  });
}

/** The compose file of one Dalston version (JSON is YAML). */
function composeFile(
  version: string,
  o: { app: string; pg: string; gatewayPort: number; subnet: string },
): Record<string, unknown> {
  const fileHealth = {
    test: ['CMD', 'test', '-f', '/tmp/healthy'],
    interval: '1s',
    timeout: '5s',
    retries: 3,
    start_period: '120s',
  };
  const app = (extra: Record<string, unknown> = {}) => ({
    image: `${o.app}:\${DALSTON_IMAGE_TAG:?DALSTON_IMAGE_TAG must be set}`,
    pull_policy: 'never',
    init: true,
    restart: 'unless-stopped',
    stop_grace_period: '2s',
    healthcheck: fileHealth,
    depends_on: { postgres: { condition: 'service_healthy' } },
    ...extra,
  });
  const postgres = {
    image: o.pg,
    pull_policy: 'never',
    environment: { POSTGRES_USER: 'dalston', POSTGRES_PASSWORD: 'password', POSTGRES_DB: 'dalston' },
    // Compose interpolates DALSTON_DATA_DIR (composeEnv), as in Dalston's overlay.
    volumes: [`$\{DALSTON_DATA_DIR}/postgres:/var/lib/postgresql`],
    healthcheck: {
      test: ['CMD-SHELL', 'pg_isready -U dalston'],
      interval: '1s',
      timeout: '5s',
      retries: 30,
      start_period: '600s',
    },
    restart: 'unless-stopped',
  };
  const gatewayPorts = [`127.0.0.1:${o.gatewayPort}:8080`];
  const services: Record<string, unknown> = {
    postgres,
    gateway: app({ ports: gatewayPorts }),
    orchestrator: app(version === 'v1.0.0' ? {} : { environment: { FEATURE_FLAG: version } }),
    'stt-old': app(),
  };
  if (version !== 'v1.0.0') services['stt-new'] = app();
  if (version === 'v1.3.0') {
    // A gateway that migrates the database on start (as Dalston's does), then never becomes healthy.
    services.gateway = {
      image: o.pg,
      pull_policy: 'never',
      init: true,
      stop_grace_period: '2s',
      environment: { PGPASSWORD: 'password' },
      command: [
        'sh',
        '-c',
        `psql -h postgres -U dalston -d dalston -v ON_ERROR_STOP=1 -c "UPDATE alembic_version SET version_num = '${MIGRATED_REVISION}'" && exec sleep 1000000`,
      ],
      healthcheck: fileHealth,
      depends_on: { postgres: { condition: 'service_healthy' } },
      ports: gatewayPorts,
    };
  }
  if (version === 'v1.4.0') {
    // An image nobody can pull: the registry refuses connections.
    services.gateway = app({
      image: '127.0.0.1:9/dalston/gateway:1.4.0',
      pull_policy: 'missing',
      ports: gatewayPorts,
    });
  }
  // A subnet of its own: on this shared machine other daemons' bridges can use up every default pool.
  return { services, networks: { default: { ipam: { config: [{ subnet: o.subnet }] } } } };
}

async function git(cwd: string, args: string[]): Promise<void> {
  await run('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], { cwd });
}

export async function startChangeStack(tag: string): Promise<ChangeStack> {
  const project = uniqueProjectName(tag);
  const dir = await mkdtemp(path.join(requireEnv(ENV.tmp), `${tag}-`));
  const dataDir = path.join(dir, 'data');
  await mkdir(path.join(dataDir, 'postgres'), { recursive: true });
  await chown(path.join(dataDir, 'postgres'), DB_IDS.postgres.uid, DB_IDS.postgres.gid);
  await chmod(path.join(dataDir, 'postgres'), 0o700);
  await mkdir(path.join(dataDir, 'dalston'), { recursive: true });
  await writeHostSecrets(dataDir);

  const appImage = `${project}-app`;
  await buildAppImage(`${appImage}:1.0.0`, '1.0.0', true);
  await buildAppImage(`${appImage}:1.1.0`, '1.1.0', true);
  await buildAppImage(`${appImage}:1.2.0`, '1.2.0', false);
  const gatewayPort = await freePort();
  const subnet = `10.${100 + randomInt(100)}.${randomInt(256)}.0/24`;

  // The stand-in Dalston repository: one commit and tag per version.
  const repo = path.join(dir, 'dalston-src');
  await mkdir(repo);
  await git(repo, ['init', '-q']);
  for (const v of ['v1.0.0', 'v1.1.0', 'v1.2.0', 'v1.3.0', 'v1.4.0']) {
    const file = composeFile(v, { app: appImage, pg: requireEnv(ENV.pgImage), gatewayPort, subnet });
    await writeFile(path.join(repo, 'docker-compose.yml'), `${JSON.stringify(file, null, 2)}\n`);
    await git(repo, ['add', '-A']);
    await git(repo, ['commit', '-q', '--allow-empty', '-m', `Dalston ${v}`]);
    await git(repo, ['tag', v]);
  }

  const envFile = path.join(dir, 'etc', 'compose.env');
  await mkdir(path.dirname(envFile));
  await writeFile(envFile, 'DALSTON_IMAGE_TAG=1.0.0\nDALSTON_REF=v1.0.0\nDALSTON_S3_BUCKET=kept-as-is\n');

  const local = await startS3rver(BUCKET);
  const { endpoint, client: s3 } = local;

  const hostConfig = (ref: string, imageTag: string, services: string[], healthySeconds = 120) => {
    const input: HostConfigInput = {
      dataDir,
      compose: { project, files: ['docker-compose.yml'], services, envFiles: [envFile] },
      agent: { requireDataMount: false, gatewayUrl: `http://127.0.0.1:${gatewayPort}/health` },
      s3: { bucket: BUCKET, endpoint, region: 'us-east-1' },
      dalston: { repo, ref, imageTag, upgradeHealthySeconds: healthySeconds },
      backup: {
        stateFile: path.join(dir, 'state', 'backup.json'),
        runDir: path.join(dir, 'run'),
        partSizeMiB: 5,
      },
    };
    return hostConfigSchema.parse(input);
  };

  // As the bootstrap leaves a host: the checkout of v1.0.0 current, the stack up.
  const shell = new ProcessShell();
  const first = hostConfig('v1.0.0', '1.0.0', SERVICES.old);
  const link = dataPaths(dataDir).dalstonCurrent;
  const checkout = await ensureCheckout(
    { shell, clock: systemClock, limits: NETWORK_LIMITS, progress: () => {} },
    repo,
    dataPaths(dataDir).dalstonCheckouts,
    'v1.0.0',
  );
  await swapSymlink(link, checkout.name);
  const projectArgs = new ComposeCli(shell, composeTarget(first)).projectArgs().slice(1);
  const compose = (args: string[]) =>
    composeCli([...projectArgs, ...args], { cwd: link, env: composeEnv(first), timeoutMs: 600_000 });
  const up = await compose(['up', '-d', '--wait', ...SERVICES.old]);
  if (up.exitCode !== 0) throw new Error(`compose up failed: ${up.stderr}`);

  const psql = async (sql: string) => {
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
  await psql(
    `CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('${REVISION}');`,
  );

  return {
    dir,
    project,
    envFile,
    link,
    s3,
    gatewayPort,
    appImage,
    hostConfig,
    psql,
    async gatewayVersion() {
      const r = await fetch(`http://127.0.0.1:${gatewayPort}/health`, { signal: AbortSignal.timeout(3_000) });
      return (await r.text()).trim();
    },
    async stop() {
      await removeComposeProject(project).catch(() => {});
      await local.close();
      await run('docker', ['rmi', '-f', `${appImage}:1.0.0`, `${appImage}:1.1.0`, `${appImage}:1.2.0`]).catch(
        () => {},
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
}
