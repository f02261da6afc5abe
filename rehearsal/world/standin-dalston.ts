import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runChecked, type Shell } from '../../shared/shell.ts';

/**
 * A Dalston-shaped checkout: the same service names, `depends_on` graph,
 * healthcheck commands and timings, named volumes and port shapes as Dalston's
 * docker-compose.yml, plus Dalston's own infra/docker/docker-compose.aws.yml
 * shape, and one Alembic migration script (restore checks a dump's revision
 * against the checkout's). Postgres and Redis are real (Debian's packages,
 * world/db-images.ts); the other processes are the busybox stand-ins of standin-image.ts (the `command:`
 * lines). The project's overlay (compose/docker-compose.aws.yml) applies on top
 * unchanged, so it must resolve against this base the way it does against Dalston.
 */
export const STANDIN_DALSTON_TAG = 'v1.0.0-rehearsal';
/** The one Alembic migration of the stand-in checkout: restore refuses a dump at a revision it does not know. */
export const STANDIN_ALEMBIC_REVISION = '0001_initial_schema';

/** Pure: the stand-in's migration script, in Dalston's file shape (`alembic/versions/*.py`). */
export function standinMigrationScript(): string {
  return [
    '"""Initial schema (rehearsal stand-in).',
    '',
    `Revision ID: ${STANDIN_ALEMBIC_REVISION}`,
    'Revises:',
    '"""',
    '',
    '# revision identifiers, used by Alembic.',
    `revision: str = "${STANDIN_ALEMBIC_REVISION}"`,
    'down_revision: str | None = None',
    '',
  ].join('\n');
}

const HEADER = `# Dalston stand-in for the dalston-host rehearsal (shape of Dalston's docker-compose.yml).
x-common-env: &common-env
  REDIS_URL: redis://redis:6379
  DALSTON_S3_BUCKET: \${DALSTON_S3_BUCKET:-dalston-artifacts}
  DALSTON_S3_REGION: \${DALSTON_S3_REGION:-eu-west-2}
  DALSTON_S3_ENDPOINT_URL: http://minio:9000
  DALSTON_LOG_FORMAT: json

x-core-env: &core-env
  <<: *common-env
  DATABASE_URL: postgresql+asyncpg://dalston:\${POSTGRES_PASSWORD:-password}@postgres:5432/dalston

x-batch-depends: &batch-depends
  redis:
    condition: service_healthy
    required: false
  minio-init:
    condition: service_completed_successfully
    required: false

x-realtime-depends: &realtime-depends
  redis:
    condition: service_healthy
    required: false

x-core-depends: &core-depends
  postgres:
    condition: service_healthy
    required: false
  redis:
    condition: service_healthy
    required: false
  minio-init:
    condition: service_completed_successfully
    required: false

x-default-logging: &default-logging
  driver: json-file
  options:
    max-size: "50m"
    max-file: "3"

x-ws-healthcheck: &ws-healthcheck
  test: ["CMD", "python", "-c", "import socket; s=socket.socket(); s.settimeout(2); s.connect(('localhost', 9000)); s.close()"]
  interval: 10s
  timeout: 5s
  retries: 3

services:
  postgres:
    image: postgres:18-alpine
    environment:
      POSTGRES_USER: dalston
      POSTGRES_PASSWORD: \${POSTGRES_PASSWORD:-password}
      POSTGRES_DB: dalston
    ports:
      - "\${DALSTON_PG_BIND_IP:-127.0.0.1}:5432:5432"
    volumes:
      - postgres-data:/var/lib/postgresql
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U dalston"]
      interval: 5s
      timeout: 5s
      retries: 5
    logging: *default-logging
    restart: unless-stopped

  redis:
    image: redis:8-alpine
    command: >
      redis-server
      --appendonly yes
      --appendfsync everysec
    ports:
      - "\${DALSTON_BIND_IP:-127.0.0.1}:6379:6379"
    volumes:
      - redis-data:/data
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 5s
      timeout: 5s
      retries: 5
    logging: *default-logging
    restart: unless-stopped

  minio:
    image: minio/minio:latest
    command: ["dalston-orchestrator"]
    volumes:
      - minio-data:/data
    restart: unless-stopped

  minio-init:
    image: minio/mc:latest
    depends_on:
      minio:
        condition: service_started
    entrypoint: ["true"]

  gateway:
    image: dalston/gateway:latest
    build:
      context: .
      dockerfile: docker/Dockerfile.gateway
    command: ["dalston-gateway"]
    ports:
      - "\${DALSTON_BIND_IP:-127.0.0.1}:8000:8000"
    environment:
      <<: *core-env
      DALSTON_MODEL_DIR: /models
    volumes:
      - model-cache:/models
    depends_on: *core-depends
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8000/health"]
      interval: 10s
      timeout: 5s
      retries: 5
      start_period: 60s
    logging: *default-logging
    restart: unless-stopped

  orchestrator:
    image: dalston/orchestrator:latest
    build:
      context: .
      dockerfile: docker/Dockerfile.orchestrator
    command: ["dalston-orchestrator"]
    environment:
      <<: *core-env
      DALSTON_SINGLE_INSTANCE: "true"
    depends_on: *core-depends
    logging: *default-logging
    restart: unless-stopped

  stt-prepare:
    image: dalston/stt-prepare:latest
    build:
      context: .
      dockerfile: engines/stt-prepare/audio-prepare/Dockerfile
    command: ["dalston-engine"]
    environment:
      <<: *common-env
      DALSTON_ENGINE_ID: audio-prepare
    tmpfs: /tmp:size=64m
    depends_on: *batch-depends
    logging: *default-logging
    restart: unless-stopped
`;

/** Engines with Dalston's WebSocket healthcheck; the project's overlay names each of them. */
const ENGINES: Array<{ name: string; profiles?: string[]; ws?: boolean }> = [
  { name: 'stt-transcribe-nemo', ws: true },
  { name: 'stt-transcribe-faster-whisper', ws: true },
  { name: 'stt-transcribe-onnx', ws: true },
  { name: 'stt-transcribe-vllm-asr', profiles: ['gpu'] },
  { name: 'stt-transcribe-hf-asr', ws: true },
  { name: 'stt-align-phoneme' },
  { name: 'stt-diarize-pyannote-4.0' },
  { name: 'stt-diarize-nemo-msdd', profiles: ['nemo-msdd'] },
  { name: 'stt-diarize-nemo-sortformer', profiles: ['gpu'] },
  { name: 'stt-diarize-nemo-sortformer-cpu' },
  { name: 'stt-pii-detect-presidio' },
  { name: 'stt-audio-redact-audio' },
  { name: 'stt-combo-whisper-align-pyannote' },
  { name: 'stt-transcribe-riva', profiles: ['riva'] },
  { name: 'riva-nim', profiles: ['riva'] },
];

const OBSERVABILITY = ['metrics-exporter', 'jaeger', 'prometheus', 'grafana', 'loki'];

/** Pure: the stand-in docker-compose.yml. */
export function standinComposeYaml(): string {
  const engines = ENGINES.map((e) => {
    const lines = [
      `  ${e.name}:`,
      `    image: dalston/${e.name}:1.0.0`,
      '    build:',
      '      context: .',
      `      dockerfile: engines/${e.name}/Dockerfile`,
      '    command: ["dalston-engine"]',
      '    environment:',
      '      <<: *common-env',
      `      DALSTON_ENGINE_ID: ${e.name}`,
      '    volumes:',
      '      - model-cache:/models',
      '    depends_on: *batch-depends',
    ];
    if (e.ws) lines.push('    healthcheck: *ws-healthcheck');
    if (e.profiles) lines.push(`    profiles: [${e.profiles.join(', ')}]`);
    lines.push('    logging: *default-logging', '    restart: unless-stopped');
    return lines.join('\n');
  });
  const obs = OBSERVABILITY.map((name) =>
    [
      `  ${name}:`,
      `    image: dalston-standin/${name}:latest`,
      '    command: ["dalston-orchestrator"]',
      '    depends_on: *realtime-depends',
      '    profiles: [observability]',
    ].join('\n'),
  );
  const volumes = [
    'volumes:',
    '  postgres-data:',
    '  redis-data:',
    '  minio-data:',
    '  model-cache:',
    '  prometheus-data:',
    '  grafana-data:',
    '  loki-data:',
  ];
  return `${HEADER}\n${engines.join('\n\n')}\n\n${obs.join('\n\n')}\n\n${volumes.join('\n')}\n`;
}

/** Pure: the shape of Dalston's own infra/docker/docker-compose.aws.yml (MinIO off, state under /data). */
export function standinDalstonAwsOverlay(): string {
  return `# Stand-in for Dalston's infra/docker/docker-compose.aws.yml.
x-aws-s3: &aws-s3
  DALSTON_S3_BUCKET: \${DALSTON_S3_BUCKET}
  DALSTON_S3_REGION: \${DALSTON_S3_REGION}
  DALSTON_S3_ENDPOINT_URL: ""
  AWS_REGION: \${AWS_REGION}

services:
  minio:
    profiles: [disabled]
  minio-init:
    profiles: [disabled]
  gateway:
    environment:
      <<: *aws-s3
    ports:
      - "127.0.0.1:8000:8000"
  orchestrator:
    environment:
      <<: *aws-s3
  postgres:
    volumes:
      - /data/postgres:/var/lib/postgresql
  redis:
    volumes:
      - /data/redis:/data
    ports:
      - "127.0.0.1:6379:6379"
  stt-prepare:
    environment:
      <<: *aws-s3
`;
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'rehearsal',
  GIT_AUTHOR_EMAIL: 'rehearsal@localhost',
  GIT_COMMITTER_NAME: 'rehearsal',
  GIT_COMMITTER_EMAIL: 'rehearsal@localhost',
};

/**
 * Creates the stand-in Dalston repository (a bare clone at `bareDir`, tagged
 * STANDIN_DALSTON_TAG), which the bootstrap's `dalston` step clones for real.
 */
export async function createStandinDalston(shell: Shell, workDir: string, bareDir: string): Promise<string> {
  const w = path.join(workDir, 'dalston-src');
  await mkdir(path.join(w, 'infra', 'docker'), { recursive: true });
  await mkdir(path.join(w, 'alembic', 'versions'), { recursive: true });
  await writeFile(
    path.join(w, 'alembic', 'versions', `${STANDIN_ALEMBIC_REVISION}.py`),
    standinMigrationScript(),
  );
  await writeFile(path.join(w, 'docker-compose.yml'), standinComposeYaml());
  await writeFile(path.join(w, 'infra', 'docker', 'docker-compose.aws.yml'), standinDalstonAwsOverlay());
  await writeFile(
    path.join(w, 'README.md'),
    'Dalston stand-in for the dalston-host rehearsal: Dalston-shaped compose files, busybox processes.\n',
  );
  const git = (args: string[]) => runChecked(shell, 'git', ['-C', w, ...args], { env: GIT_ENV });
  await git(['init', '-q', '-b', 'main']);
  await git(['add', '-A']);
  await git(['commit', '-q', '-m', 'Dalston stand-in']);
  await git(['tag', STANDIN_DALSTON_TAG]);
  await runChecked(shell, 'git', ['clone', '-q', '--bare', w, bareDir], { env: GIT_ENV });
  return (await git(['rev-parse', 'HEAD'])).trim();
}

/**
 * A new Dalston release upstream: a commit on the stand-in checkout (its README
 * names `tag`; the compose files stay, so only the version the host pins changes)
 * tagged `tag` and pushed to every repository in `remotes` (the bare repo a new
 * instance copies, the copy a running machine fetches from). Returns the commit.
 */
export async function publishStandinDalstonTag(
  shell: Shell,
  workDir: string,
  tag: string,
  remotes: readonly string[],
): Promise<string> {
  const w = path.join(workDir, 'dalston-src');
  const git = (args: string[]) => runChecked(shell, 'git', ['-C', w, ...args], { env: GIT_ENV });
  await writeFile(
    path.join(w, 'README.md'),
    `Dalston stand-in for the dalston-host rehearsal: Dalston-shaped compose files, busybox processes.\nRelease ${tag}.\n`,
  );
  await git(['commit', '-q', '-am', `Dalston stand-in ${tag}`]);
  await git(['tag', tag]);
  for (const remote of remotes) await git(['push', '-q', remote, `refs/tags/${tag}`]);
  return (await git(['rev-parse', 'HEAD'])).trim();
}
