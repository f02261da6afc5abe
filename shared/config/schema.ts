import { z } from 'zod';
import { checkListen } from '../net/listen-address.ts';
import { DEFAULT_STATUS_PREFIX } from '../status/s3-key.ts';
import { DATA_DIR_PLACEHOLDER, dataPaths } from './data-paths.ts';

/**
 * The one schema for `/etc/dalston/host.json`. Every key is optional with a
 * default; objects are strict so a misspelt key is an error, not a silent no-op.
 * `.describe()` texts are the documentation: docs/config.md is generated from them.
 */

const absPath = z.string().startsWith('/', { message: 'must be an absolute path' });
const seconds = (def: number, what: string) => z.number().int().positive().default(def).describe(what);

const composeSchema = z
  .strictObject({
    project: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, {
        message: 'must be a compose project name (lowercase, digits, - and _)',
      })
      .default('dalston')
      .describe('Compose project name (`docker compose -p`); containers are matched by its label.'),
    // No literal default: derived from dataDir after parsing (see hostConfigSchema).
    workingDir: absPath
      .optional()
      .meta({ derivedDefault: dataPaths(DATA_DIR_PLACEHOLDER).dalstonCurrent })
      .describe(
        'Directory holding the compose files (Dalston checkout plus our overlay); by default the checkout the dalston step keeps current under `dataDir`.',
      ),
    files: z
      .array(z.string().min(1))
      .default([
        'docker-compose.yml',
        'infra/docker/docker-compose.aws.yml',
        '/opt/dalston-host/current/compose/docker-compose.aws.yml',
      ])
      .describe(
        "Compose files applied in order (`-f`): relative ones to `workingDir` (Dalston's checkout), absolute ones as they are (our overlay ships in the release).",
      ),
    services: z
      .array(z.string().min(1))
      .default([])
      .describe('Services this host runs and supervises; empty means all services of the project.'),
    profiles: z.array(z.string().min(1)).default([]).describe('Compose profiles to enable (`--profile`).'),
    envFiles: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Env files passed to compose (`--env-file`), relative to `workingDir` or absolute (Terraform writes /etc/dalston/compose.env).',
      ),
  })
  .prefault({})
  .describe('The Docker Compose stack the agent brings up and supervises.');

const agentSchema = z
  .strictObject({
    listen: z
      .string()
      .default('127.0.0.1:9190')
      .describe(
        'Address of the HTTP endpoint (/livez, /healthz, /status, /metrics): `host:port` or `[ipv6]:port`.',
      ),
    allowPublicListen: z
      .boolean()
      .default(false)
      .describe(
        'Allow `listen` on an address other than loopback (0.0.0.0, [::], a Tailscale or VPC address, a hostname). Without it only 127.0.0.0/8, ::1 and `localhost` are accepted, in any spelling, so no port is exposed by accident.',
      ),
    requireDataMount: z
      .boolean()
      .default(true)
      .describe(
        'Refuse to start the stack unless `dataDir` is a mount point of its own and not on the root filesystem, so not a bind mount from the root disk (exit 3).',
      ),
    gatewayUrl: z
      .url()
      .default('http://127.0.0.1:8000/health')
      .describe("URL of Dalston's gateway health endpoint, probed each reconcile."),
    reconcileIntervalSeconds: seconds(30, 'Seconds between full reconciles (events trigger them sooner).'),
    restartBudget: z
      .strictObject({
        max: z
          .number()
          .int()
          .min(1)
          .default(3)
          .describe('Agent actions allowed per service within the window.'),
        windowSeconds: seconds(900, 'Length of the restart-budget window.'),
      })
      .prefault({})
      .describe('Per-service limit on healing actions; when spent the circuit opens.'),
    backoff: z
      .strictObject({
        initialSeconds: seconds(10, 'First delay before retrying an action.'),
        maxSeconds: seconds(300, 'Upper bound of the doubling delay.'),
        resetAfterHealthySeconds: seconds(
          600,
          'Healthy time after which the delay starts again from the initial value.',
        ),
      })
      .prefault({})
      .describe('Delay between repeated actions on one service (doubling, with jitter).'),
    stopGraceSeconds: seconds(60, 'Seconds `docker compose stop` gives each container on shutdown.'),
    stateDir: absPath
      .default('/var/lib/dalston')
      .describe(
        "Directory of the agent's own state on the root disk: the healing memory (restart budgets, backoff, open circuits) that outlives an agent restart, and `dalston-host sync`'s convergence record (`convergence.json`).",
      ),
    desiredStatePollSeconds: z
      .number()
      .int()
      .min(0)
      .default(60)
      .describe(
        'How often the agent checks the desired state (`s3://<s3.bucket>/config/host.json`, a conditional GET on its ETag) and starts `agent.syncCommand` when it changed; 0 turns the poll off. Needs `s3.bucket`.',
      ),
    syncCommand: z
      .array(z.string().min(1))
      .min(1)
      .default(['systemctl', 'start', '--no-block', 'dalston-sync.service'])
      .describe(
        'What the agent runs to start `dalston-host sync` when the desired state changed (argv, no shell); it returns once sync has started.',
      ),
    handoverReadySeconds: seconds(
      120,
      'How long `dalston-host sync` waits for a restarted agent (a new release, new host settings) to report ready with the expected release before it swaps the old release back.',
    ),
  })
  // The agent's own check (it binds what this accepts), so `dalston-host config` and the agent agree.
  .superRefine((a, ctx) => {
    const r = checkListen(a.listen, a.allowPublicListen);
    if (!r.ok) ctx.addIssue({ code: 'custom', path: ['listen'], message: r.message, input: a.listen });
  })
  .prefault({})
  .describe('The supervisor (`dalston-host agent`).');

const s3Schema = z
  .strictObject({
    bucket: z.string().min(3).optional().describe('Artifacts bucket; S3 status reporting is off without it.'),
    region: z.string().min(1).optional().describe('AWS region of the bucket (defaults to the SDK chain).'),
    endpoint: z.url().optional().describe('Endpoint of an S3-compatible server (path-style is used then).'),
    statusPrefix: z
      .string()
      .default(DEFAULT_STATUS_PREFIX)
      .describe('Key prefix of status snapshots: `<prefix><instance-id>/latest.json`.'),
  })
  .prefault({})
  .describe('Where status snapshots (and artifacts) go.');

const volumeSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^vol-[0-9a-f]{8,17}$/, { message: 'must be an EBS volume id like vol-0123456789abcdef0' })
      .optional()
      .describe('EBS volume id of the data volume; resolved to its NVMe device.'),
    device: absPath.optional().describe('Explicit block device path; overrides `id` (tests, non-AWS hosts).'),
    fsType: z.enum(['ext4', 'xfs']).default('ext4').describe('Filesystem created on a blank data volume.'),
    label: z
      .string()
      .min(1)
      .max(12, { message: 'must be at most 12 characters (xfs label limit)' })
      .default('dalston-data')
      .describe('Filesystem label given when formatting.'),
    waitSeconds: seconds(300, 'How long to wait for the volume to appear (it may attach after boot).'),
  })
  .prefault({})
  .describe('The separate EBS data volume mounted at `dataDir`.');

const dalstonSchema = z
  .strictObject({
    repo: z
      .string()
      .min(1)
      .default('https://github.com/ssarunic/dalston.git')
      .describe('Git URL of Dalston.'),
    ref: z.string().min(1).optional().describe('Pinned commit or tag of Dalston to deploy.'),
    imageTag: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, { message: 'must be a Docker image tag, e.g. 1.2.3' })
      .optional()
      .describe(
        "Tag of Dalston's published images (`DALSTON_IMAGE_TAG` for the overlay); Dalston publishes `latest` and `X.Y.Z` only.",
      ),
    upgradeHealthySeconds: seconds(
      600,
      'How long a change of Dalston (ref, image tag, services) waits for every configured service to be healthy (or running, without a healthcheck) before it rolls back.',
    ),
  })
  .prefault({})
  .describe('The Dalston source checked out under `dataDir/dalston/<ref>`.');

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: 'must be a hex SHA-256' });

const dockerSchema = z
  .strictObject({
    composeVersion: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/)
      .default('2.29.7')
      .describe('Compose v2 plugin release installed where no distro package exists (Amazon Linux 2023).'),
    composeSha256: z
      .strictObject({ x86_64: sha256.optional(), aarch64: sha256.optional() })
      .prefault({})
      .describe(
        'Pinned SHA-256 of the release binary per `uname -m`; overrides the values pinned in the repo.',
      ),
    composeMinVersion: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/)
      .default('2.24.4')
      .describe('Lowest acceptable `docker compose version` (2.24.4: the overlay uses `!override`).'),
    buildxVersion: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/)
      .default('0.17.1')
      .describe(
        'Buildx plugin release installed where no recent enough one exists (Amazon Linux 2023 ships 0.12; Compose builds need `buildxMinVersion`).',
      ),
    buildxSha256: z
      .strictObject({ x86_64: sha256.optional(), aarch64: sha256.optional() })
      .prefault({})
      .describe(
        'Pinned SHA-256 of the buildx release binary per `uname -m`; overrides the values pinned in the repo.',
      ),
    buildxMinVersion: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/)
      .default('0.17.0')
      .describe(
        'Lowest acceptable `docker buildx version` (0.17.0: `docker compose build` refuses older buildx).',
      ),
  })
  .prefault({})
  .describe('Docker engine, Compose v2 and buildx plugins.');

const tailscaleSchema = z
  .strictObject({
    authKeyParameter: z
      .string()
      .min(1)
      .optional()
      .describe(
        'SSM SecureString parameter holding the Tailscale auth key; Tailscale is skipped without it.',
      ),
    hostname: z.string().min(1).default('dalston').describe('Tailscale machine name.'),
  })
  .prefault({})
  .describe('Private access over Tailscale.');

const apiKeySchema = z
  .strictObject({
    parameter: z
      .string()
      .regex(/^\/[A-Za-z0-9_.\-/]+$/, 'must be an SSM parameter name starting with "/"')
      .optional()
      .describe(
        "SSM SecureString parameter the bootstrap stores the host's generated Dalston admin API key in (once; `dalston-aws api-key` reads it). Without it the key stays only in the root-only secrets file on the data volume.",
      ),
  })
  .prefault({})
  .describe(
    "Dalston's admin API key (generated on the host; the gateway seeds it when its api_keys table is empty).",
  );

const idleSchema = z
  .strictObject({
    stopAfterMinutes: z
      .number()
      .min(0)
      .default(15)
      .describe(
        "Stop the instance after Dalston's queues, sessions, engines and database have all been idle this long; 0 turns idle stop off. Fractions are allowed (tests and the rehearsal use seconds-long windows).",
      ),
    bootGraceMinutes: z
      .number()
      .min(0)
      .default(15)
      .describe('Never stop within this long after boot, however idle.'),
    announceMinutes: z
      .number()
      .min(0)
      .default(5)
      .describe(
        'How long the stop is announced (status, heartbeat) before it happens; work arriving meanwhile cancels it.',
      ),
    pollSeconds: z
      .number()
      .min(1)
      .default(30)
      .describe(
        'How often the idle signals are read (the Redis keys and a `psql` count in the Postgres container).',
      ),
    powerOffCommand: z
      .array(z.string().min(1))
      .min(1)
      .default(['systemctl', 'poweroff'])
      .describe(
        'What the agent runs to power the instance off once the stack is stopped and the final heartbeat written (argv, no shell); the instance stops because Terraform sets its shutdown behaviour to stop.',
      ),
    stuckPendingMinutes: z
      .number()
      .int()
      .min(1)
      .default(360)
      .describe(
        "A queue entry delivered but unacknowledged for longer than this is a crashed consumer's leftover: reported, but it no longer keeps the host awake.",
      ),
    redis: z
      .string()
      .regex(/^[^:\s]+:\d{1,5}$/, 'host:port')
      .default('127.0.0.1:6379')
      .describe("Dalston's Redis as published by the overlay (loopback only)."),
  })
  .prefault({})
  .describe('Stopping the instance when Dalston is idle.');
/**
 * A systemd calendar expression (`OnCalendar=`), checked only for what would break the
 * drop-in it is written into; systemd itself judges the expression (a test runs
 * `systemd-analyze calendar` on the default).
 */
const onCalendar = z
  .string()
  .min(1)
  .regex(/^[^\n\r\\%]+$/, { message: 'must be one systemd calendar expression (no newline, \\ or %)' });

const backupSchema = z
  .strictObject({
    schedule: onCalendar
      .default('*-*-* 04:15:00 UTC')
      .describe(
        'When `dalston-backup.timer` runs the nightly Postgres backup (systemd `OnCalendar=`); a run missed while the instance was stopped runs at the next boot (`Persistent=true`).',
      ),
    randomizedDelaySeconds: z
      .number()
      .int()
      .min(0)
      .max(6 * 3600)
      .default(900)
      .describe(
        'Random delay added to each scheduled run (`RandomizedDelaySec=`), so hosts do not all dump at once.',
      ),
    prefix: z
      .string()
      .regex(/^backups\/([A-Za-z0-9._-]+\/)*$/, {
        message: 'must start with backups/ and end with / (the bucket expires and protects backups/)',
      })
      .default('backups/postgres/')
      .describe(
        'Key prefix of the dumps: `<prefix><UTC timestamp>.dump`. Under `backups/`, where the bucket expires objects and the instance role cannot delete.',
      ),
    postgresService: z
      .string()
      .min(1)
      .default('postgres')
      .describe('Compose service of Postgres; its container is found by compose labels, never by name.'),
    database: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Database to dump and restore; by default the container's `POSTGRES_DB` (Dalston: `dalston`).",
      ),
    user: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Postgres role pg_dump and pg_restore connect as; by default the container's `POSTGRES_USER`.",
      ),
    alembicVersionsDir: z
      .string()
      .min(1)
      .default('alembic/versions')
      .describe(
        "Dalston's Alembic migrations, relative to `compose.workingDir` (or absolute): restore refuses a dump whose revision is not among them.",
      ),
    partSizeMiB: z
      .number()
      .int()
      .min(5)
      .max(512)
      .default(16)
      .describe(
        'Multipart upload part size; memory use is about two parts, and a dump may have at most 10,000 parts.',
      ),
    restoreHealthySeconds: seconds(
      900,
      'How long restore waits for the stack to be healthy again after bringing it back.',
    ),
    stateFile: absPath
      .default('/var/lib/dalston/backup.json')
      .describe("The last backup's outcome, written by every backup and read by the agent for `/status`."),
    runDir: absPath
      .default('/run/dalston')
      .describe(
        "Where restore's maintenance lease and the backup/restore lock live (tmpfs: a reboot ends both).",
      ),
  })
  .prefault({})
  .describe('Nightly Postgres dumps to S3 (`dalston-host backup`) and `dalston-host restore`.');

const hostConfigObject = z
  .strictObject({
    dataDir: absPath
      .default('/data')
      .describe(
        'Mount point of the data volume; every stateful service lives under it, and the paths under it (data directories, Dalston checkouts, `compose.workingDir`) derive from it.',
      ),
    compose: composeSchema,
    agent: agentSchema,
    s3: s3Schema,
    volume: volumeSchema,
    dalston: dalstonSchema,
    docker: dockerSchema,
    tailscale: tailscaleSchema,
    apiKey: apiKeySchema,
    idle: idleSchema,
    backup: backupSchema,
  })
  .describe('dalston-host configuration (`/etc/dalston/host.json`).');

/**
 * The schema with the values derived from `dataDir` filled in right after
 * parsing (shared/config/data-paths.ts); a value set in host.json wins. Every
 * reader of host.json goes through this, so no path under dataDir is spelt twice.
 */
export const hostConfigSchema = hostConfigObject.transform((c) => ({
  ...c,
  compose: { ...c.compose, workingDir: c.compose.workingDir ?? dataPaths(c.dataDir).dalstonCurrent },
}));

export type HostConfig = z.output<typeof hostConfigSchema>;
export type HostConfigInput = z.input<typeof hostConfigSchema>;

export const DEFAULT_CONFIG_PATH = '/etc/dalston/host.json';
