/**
 * A compose file of busybox stand-in services named after what must happen
 * to them. Every service exits promptly on SIGTERM (trap) so stops are fast,
 * and health is a file the service itself keeps or removes.
 */
const LOOP = 'while :; do sleep 1; done';
const TRAP = 'trap "exit 0" TERM';

// The healthcheck timeout is generous on purpose: the tests' failures are deliberate (the checked
// file is missing, which fails at once), while a 1 s timeout turned a healthy service unhealthy
// whenever `docker exec` was slow on a busy machine, and the agent then rightly restarted it.
function service(image: string, script: string, extra: Record<string, unknown> = {}, healthTest?: string[]) {
  return {
    image,
    pull_policy: 'never',
    restart: 'unless-stopped',
    stop_grace_period: '5s',
    command: ['sh', '-c', script],
    ...(healthTest
      ? { healthcheck: { test: healthTest, interval: '1s', timeout: '10s', retries: 2, start_period: '1s' } }
      : {}),
    ...extra,
  };
}

/**
 * Health propagates through files in a shared volume (no networking needed):
 * /shared/<name>.ok exists while <name> is up; a service removes its own file
 * when it stops (trap) and at start.
 */
const SHARED = { volumes: ['shared:/shared'] };

/** Becomes healthy once `dep` is up, and stays unhealthy after losing it until restarted. */
function dependent(image: string, name: string, dep: string) {
  const own = `/shared/${name}.ok`;
  const script = [
    `trap "rm -f ${own}; exit 0" TERM`,
    `rm -f ${own} /tmp/healthy`,
    `until [ -f /shared/${dep}.ok ]; do sleep 1; done`,
    `touch /tmp/healthy ${own}`,
    `while :; do sleep 1; [ -f /shared/${dep}.ok ] || rm -f /tmp/healthy ${own}; done`,
  ].join('; ');
  return service(image, script, { ...SHARED, depends_on: { [dep]: { condition: 'service_healthy' } } }, [
    'CMD',
    'test',
    '-f',
    '/tmp/healthy',
  ]);
}

export const STACK_SERVICES = [
  'stays-healthy',
  'turns-unhealthy-once',
  'always-unhealthy',
  'crashes',
  'dependency',
  'dependent-a',
  'dependent-b',
  'container-removed',
] as const;

export function standinCompose(image: string): Record<string, unknown> {
  return {
    services: {
      'stays-healthy': service(image, `${TRAP}; touch /tmp/healthy; ${LOOP}`, {}, [
        'CMD',
        'test',
        '-f',
        '/tmp/healthy',
      ]),
      // First life: healthy for 3 s, then unhealthy; after a restart (the marker survives it) healthy for good.
      'turns-unhealthy-once': service(
        image,
        `${TRAP}; touch /tmp/healthy; if [ ! -f /marker ]; then touch /marker; (sleep 4; rm -f /tmp/healthy) & fi; ${LOOP}`,
        {},
        ['CMD', 'test', '-f', '/tmp/healthy'],
      ),
      'always-unhealthy': service(image, `${TRAP}; ${LOOP}`, {}, ['CMD', 'test', '-f', '/tmp/never']),
      crashes: service(image, `${TRAP}; sleep 2; exit 1`),
      dependency: service(
        image,
        `trap "rm -f /shared/dependency.ok; exit 0" TERM; touch /shared/dependency.ok; ${LOOP}`,
        SHARED,
        ['CMD', 'test', '-f', '/shared/dependency.ok'],
      ),
      'dependent-a': dependent(image, 'dependent-a', 'dependency'),
      'dependent-b': dependent(image, 'dependent-b', 'dependent-a'),
      'container-removed': service(image, `${TRAP}; ${LOOP}`),
    },
    volumes: { shared: {} },
  };
}

/** The overlay's way of naming the data volume: required, no fallback (compose/docker-compose.aws.yml). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolates it, not JavaScript
const DATA = '${DALSTON_DATA_DIR:?DALSTON_DATA_DIR must name the data volume mount point}';

/**
 * A Dalston-shaped stand-in whose state is bind-mounted from the data volume
 * exactly as our overlay does it: Postgres, Redis and the model cache under
 * `${DALSTON_DATA_DIR}`. Postgres writes `marker` into its data directory, so a
 * test can read back where it landed.
 */
export function dataVolumeCompose(image: string, marker: string): Record<string, unknown> {
  const healthy = ['CMD', 'test', '-f', '/tmp/healthy'];
  const upWhenHealthy = { postgres: { condition: 'service_healthy' } };
  return {
    services: {
      postgres: service(
        image,
        `${TRAP}; echo "$$MARKER" > /var/lib/postgresql/marker; touch /tmp/healthy; ${LOOP}`,
        { environment: { MARKER: marker }, volumes: [`${DATA}/postgres:/var/lib/postgresql`] },
        healthy,
      ),
      redis: service(
        image,
        `${TRAP}; touch /data/dump.rdb /tmp/healthy; ${LOOP}`,
        { volumes: [`${DATA}/redis:/data`], depends_on: upWhenHealthy },
        healthy,
      ),
      gateway: service(
        image,
        `${TRAP}; test -d /models && touch /tmp/healthy; ${LOOP}`,
        { volumes: [`${DATA}/models:/models`], depends_on: upWhenHealthy },
        healthy,
      ),
    },
  };
}
