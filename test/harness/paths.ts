import os from 'node:os';
import path from 'node:path';

/**
 * Fixed, well-known locations shared by every harness run on a machine, so a
 * daemon or a downloaded plugin outlives one run and is reused by the next.
 * Per-run scratch space is DALSTON_TEST_TMP instead (see global-setup.ts).
 */
export const harnessBase = path.join(os.tmpdir(), 'dalston-host-test');

export const dockerdDir = path.join(harnessBase, 'dockerd');
export const dockerdPaths = {
  socket: path.join(dockerdDir, 'docker.sock'),
  dataRoot: path.join(dockerdDir, 'root'),
  execRoot: path.join(dockerdDir, 'exec'),
  pidFile: path.join(dockerdDir, 'docker.pid'),
  log: path.join(dockerdDir, 'dockerd.log'),
  /** Present only when a harness run started the daemon (holds its pid): such a daemon may be stopped. */
  ownedMarker: path.join(dockerdDir, 'started-by-harness'),
  /** One file per live harness run using the daemon; the last one out stops a harness-started daemon. */
  usersDir: path.join(dockerdDir, 'users'),
  startLock: path.join(dockerdDir, 'start.lock'),
};

export const cacheDir = path.join(harnessBase, 'cache');
/** DOCKER_CONFIG handed to tests: its cli-plugins/docker-compose is Compose v2. */
export const dockerConfigDir = path.join(harnessBase, 'docker-config');

/** The busybox stand-in image every integration test uses instead of pulling. */
export const STANDIN_IMAGE = 'dalston-standin:test';

/**
 * Compose projects created through `uniqueProjectName` start with this prefix
 * followed by the run id, so a run's teardown removes only its own projects.
 */
export const PROJECT_PREFIX = 'dhtest';
/** Label for containers/volumes/networks tests create directly (not via compose). */
export const RUN_LABEL = 'dalston-host-test.run';

/** Environment variables the global setup sets for test workers. */
export const ENV = {
  dockerHost: 'DOCKER_HOST',
  dockerConfig: 'DOCKER_CONFIG',
  image: 'DALSTON_TEST_IMAGE',
  /** Real Postgres 15 / Redis 7.0 from Debian's packages (debian-images.ts). */
  pgImage: 'DALSTON_TEST_PG_IMAGE',
  redisImage: 'DALSTON_TEST_REDIS_IMAGE',
  tmp: 'DALSTON_TEST_TMP',
  runId: 'DALSTON_TEST_RUN_ID',
} as const;
