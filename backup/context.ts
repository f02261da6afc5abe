import { realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { requireKey } from '../shared/config/load.ts';
import type { HostConfig } from '../shared/config/schema.ts';
import { ComposeCli, composeEnv, composeTarget } from '../shared/engine/compose-cli.ts';
import { DockerodeClient, dockerodeFromEnv } from '../shared/engine/docker/dockerode-client.ts';
import type { Logger } from '../shared/logger.ts';
import { ProcessShell } from '../shared/process-shell.ts';
import { parseSnapshot, type StatusSnapshot } from '../shared/status/snapshot.ts';
import { systemClock } from '../shared/time/clock.ts';
import { hostVersion } from '../shared/version.ts';
import { knownRevisions } from './alembic-revisions.ts';
import { type BackupOutput, jsonOutput, terminalOutput } from './output.ts';
import type { RestoreDeps } from './restore.ts';
import type { BackupDeps } from './run-backup.ts';

/** The real parts of a backup or restore, from host.json; `close()` ends the S3 client. */
export interface Wired<T> {
  deps: T;
  close(): void;
}

export interface CommandIO {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  logger: Logger;
}

/** The Dalston ref being run: host.json's pin, or the checkout `compose.workingDir` points at. */
async function dalstonRef(config: HostConfig): Promise<string> {
  if (config.dalston.ref) return config.dalston.ref;
  try {
    return basename(await realpath(config.compose.workingDir));
  } catch {
    return 'unknown';
  }
}

/** GET the local agent's /status; null when nothing (or something else) answers. */
export async function fetchAgentStatus(config: HostConfig): Promise<StatusSnapshot | null> {
  const url = `http://${config.agent.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}/status`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return null;
    const parsed = parseSnapshot(await res.text());
    return parsed.kind === 'ok' ? parsed.snapshot : null;
  } catch {
    return null;
  }
}

export function outputFor(io: CommandIO): BackupOutput {
  return io.stdout.isTTY ? terminalOutput(io.stdout) : jsonOutput(io.logger);
}

export async function wireBackup(config: HostConfig, io: CommandIO): Promise<Wired<BackupDeps>> {
  const bucket = requireKey(config.s3.bucket, 's3.bucket', 'to store backups');
  const [{ S3ObjectStore }, { resolveInstanceName }] = await Promise.all([
    import('../shared/aws/s3-object-store.ts'),
    import('../shared/aws/instance-identity.ts'),
  ]);
  const store = new S3ObjectStore({
    bucket,
    region: config.s3.region,
    endpoint: config.s3.endpoint,
    // Streams have no overall deadline; a server that stops answering for this long has failed.
    requestTimeoutMs: 120_000,
    timeoutMs: 30_000,
    maxAttempts: 3,
  });
  const deps: BackupDeps = {
    config,
    docker: new DockerodeClient(dockerodeFromEnv(), { callTimeoutMs: 30_000 }),
    store,
    bucketUrl: `s3://${bucket}`,
    clock: systemClock,
    out: outputFor(io),
    hostVersion: hostVersion().version,
    instance: await resolveInstanceName({ timeoutMs: 1_000 }),
    dalstonRef: await dalstonRef(config),
  };
  return { deps, close: () => store.destroy() };
}

export async function wireRestore(config: HostConfig, io: CommandIO): Promise<Wired<RestoreDeps>> {
  const backup = await wireBackup(config, io);
  const compose = new ComposeCli(new ProcessShell(), composeTarget(config), { env: composeEnv(config) });
  const interactive = io.stdin.isTTY === true && io.stdout.isTTY === true;
  const deps: RestoreDeps = {
    ...backup.deps,
    compose: {
      up: (services) => compose.up(services),
      stop: (services, grace) => compose.stop(services, grace),
    },
    agentStatus: () => fetchAgentStatus(config),
    knownRevisions: () => knownRevisions(config.compose.workingDir, config.backup.alembicVersionsDir),
    confirm: interactive
      ? async (question) => {
          const rl = createInterface({ input: io.stdin, output: process.stdout });
          try {
            return (await rl.question(question)).trim().toLowerCase() === 'yes';
          } finally {
            rl.close();
          }
        }
      : null,
  };
  return { deps, close: backup.close };
}
