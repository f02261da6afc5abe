import { hostname } from 'node:os';
import { readLockOwner } from '../backup/lock.ts';
import { leaseFile, lockFile } from '../shared/backup/maintenance-lease.ts';
import { configFlag, parseCommandArgs } from '../shared/cli-args.ts';
import { loadConfig } from '../shared/config/load.ts';
import { DEFAULT_CONFIG_PATH } from '../shared/config/schema.ts';
import { handoverFile, takeHandover } from '../shared/desired/agent-handover.ts';
import {
  convergenceFile,
  readConvergenceRecord,
  settledDesiredVersion,
  syncLockFile,
} from '../shared/desired/convergence-record.ts';
import { versionsOf } from '../shared/desired/desired-state.ts';
import { ComposeCli, composeEnv, composeTarget } from '../shared/engine/compose-cli.ts';
import { DockerodeClient, dockerodeFromEnv } from '../shared/engine/docker/dockerode-client.ts';
import { componentLogger, createLogger } from '../shared/logger.ts';
import { probeGateway } from '../shared/net/gateway-probe.ts';
import { pidAlive } from '../shared/process-alive.ts';
import { ProcessShell } from '../shared/process-shell.ts';
import { hostVersion } from '../shared/version.ts';
import { DesiredStatePoll } from './converge/desired-state-poll.ts';
import { PostgresIdleSignals } from './idle/postgres-signals.ts';
import { RedisIdleSignals } from './idle/redis-signals.ts';
import { type SmallObjects, smallObjects } from './idle/small-objects.ts';
import { systemMountProbe } from './preflight.ts';
import { createHostProbe } from './report/host-probe.ts';
import { startStatusServer } from './report/http-server.ts';
import { AgentMetrics } from './report/metrics.ts';
import { statusLine } from './report/status-line.ts';
import { createNotifier } from './report/systemd-notify.ts';
import { type Reporting, runAgent } from './run.ts';
import { BackupWatch } from './status/backup-watch.ts';
import { ConvergenceWatch } from './status/convergence-watch.ts';

/**
 * `dalston-host agent [--config FILE]`: supervises the compose stack in the
 * foreground until SIGTERM/SIGINT. Expected failures are thrown as HostError
 * (exit 3 data volume not mounted, 69 Docker unavailable, 78 bad config).
 */
export async function agentCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { ...configFlag });
  const { config, path, fromFile } = await loadConfig(values.config ?? DEFAULT_CONFIG_PATH, {
    mustExist: values.config !== undefined,
  });
  const logger = createLogger({ name: 'dalston-agent' });
  const { version, commit } = hostVersion();
  logger.info({ config: path, fromFile, version, commit, project: config.compose.project }, 'agent starting');

  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) return;
    logger.info({ signal: sig }, 'signal received');
    // The reason names the signal in the final snapshot's `shutdown.detail`.
    ac.abort(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const dockerLog = componentLogger(logger, 'docker');
  const docker = new DockerodeClient(dockerodeFromEnv(), {
    onBadLine: (line, err) =>
      dockerLog.warn({ line: line.slice(0, 200), err: err.message }, 'bad event line'),
  });
  const compose = new ComposeCli(new ProcessShell(), composeTarget(config), { env: composeEnv(config) });
  const metrics = new AgentMetrics();
  const s3Log = componentLogger(logger, 's3');
  // The AWS SDK is loaded only when S3 reporting is on: it is most of the agent's memory otherwise.
  let instance = hostname();
  let s3: Reporting['s3'] = null;
  let objects: SmallObjects | null = null;
  let desiredPoll: DesiredStatePoll | null = null;
  const backups = new BackupWatch({
    stateFile: config.backup.stateFile,
    leaseFile: leaseFile(config.backup.runDir),
    logger: componentLogger(logger, 'backup'),
  });
  const shell = new ProcessShell();
  if (config.s3.bucket) {
    const [{ resolveInstanceName }, { S3ObjectStore }, { createS3StatusReporter }] = await Promise.all([
      import('../shared/aws/instance-identity.ts'),
      import('../shared/aws/s3-object-store.ts'),
      import('./report/s3-status.ts'),
    ]);
    instance = await resolveInstanceName({ logger: s3Log, timeoutMs: 1_000 });
    const store = new S3ObjectStore({
      bucket: config.s3.bucket,
      region: config.s3.region,
      endpoint: config.s3.endpoint,
    });
    objects = smallObjects(store);
    const lockHeld = async (path: string) => {
      const owner = await readLockOwner(path);
      return owner !== null && owner.pid !== process.pid && pidAlive(owner.pid) ? owner : null;
    };
    const [syncCmd, ...syncArgs] = config.agent.syncCommand;
    desiredPoll = new DesiredStatePoll({
      store,
      intervalSeconds: config.agent.desiredStatePollSeconds,
      logger: componentLogger(logger, 'converge'),
      syncRunning: async () => (await lockHeld(syncLockFile(config.backup.runDir))) !== null,
      lastSynced: async () =>
        settledDesiredVersion(await readConvergenceRecord(convergenceFile(config.agent.stateDir))),
      held: async () => {
        const lease = backups.lease();
        if (lease) return `maintenance: ${lease.reason}`;
        const owner = await lockHeld(lockFile(config.backup.runDir));
        return owner ? `${owner.what} running (pid ${owner.pid})` : null;
      },
      startSync: async () => {
        const r = await shell.run(syncCmd!, syncArgs, { timeoutMs: 60_000 });
        if (r.exitCode !== 0)
          throw new Error(
            `${config.agent.syncCommand.join(' ')} exited ${r.exitCode}: ${r.stderr.trim() || '(no message)'}`,
          );
      },
    });
    s3 = createS3StatusReporter({
      store,
      prefix: config.s3.statusPrefix,
      instance,
      logger: s3Log,
    });
  }
  const [redisHost = '127.0.0.1', redisPort = '6379'] = config.idle.redis.split(':');
  const [powerOffCmd, ...powerOffArgs] = config.idle.powerOffCommand;
  try {
    return await runAgent({
      config,
      logger,
      docker,
      compose,
      mounts: systemMountProbe,
      instance,
      version,
      shutdown: ac.signal,
      backups,
      takeHandover: () => takeHandover(handoverFile(config.backup.runDir), Date.now()),
      convergence: new ConvergenceWatch({
        file: convergenceFile(config.agent.stateDir),
        running: versionsOf(version, config),
        logger: componentLogger(logger, 'converge'),
      }),
      ...(desiredPoll ? { desiredPoll } : {}),
      idle: {
        sources: [
          {
            name: 'redis',
            source: new RedisIdleSignals(
              { host: redisHost, port: Number(redisPort) },
              config.idle.stuckPendingMinutes * 60_000,
            ),
          },
          {
            name: 'database',
            source: new PostgresIdleSignals(docker, {
              project: config.compose.project,
              service: config.backup.postgresService,
              database: config.backup.database,
              user: config.backup.user,
            }),
          },
        ],
        objects,
        powerOff: async () => {
          const r = await shell.run(powerOffCmd!, powerOffArgs, { timeoutMs: 30_000 });
          if (r.exitCode !== 0)
            throw new Error(
              `${config.idle.powerOffCommand.join(' ')} exited ${r.exitCode}: ${r.stderr.trim() || '(no message)'}`,
            );
        },
      },
      reporting: {
        startServer: (o) => startStatusServer({ ...o, metrics, logger: componentLogger(logger, 'http') }),
        metrics,
        notifier: createNotifier(process.env, undefined, { logger: componentLogger(logger, 'notify') }),
        hostProbe: createHostProbe({ dataDir: config.dataDir, timeoutMs: 2_000 }),
        s3,
        statusLine,
        probeGateway: (url) => probeGateway(url),
      },
    });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
