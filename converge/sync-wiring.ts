/**
 * The real parts of `dalston-host sync`, from the running host.json: the
 * desired state's bucket (host.json's `s3`), the release and host-settings
 * steps with the systemd agent control, and the Dalston step through
 * `applyDalstonChange` with its own wiring.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../bootstrap/atomic-write.ts';
import { hostJsonFromDesired } from '../bootstrap/steps/desired.ts';
import { S3ObjectStore } from '../shared/aws/s3-object-store.ts';
import { parseConfig } from '../shared/config/load.ts';
import type { HostConfig } from '../shared/config/schema.ts';
import { convergenceFile } from '../shared/desired/convergence-record.ts';
import { readDesiredState } from '../shared/desired/desired-state-source.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { ProcessShell } from '../shared/process-shell.ts';
import type { Clock } from '../shared/time/clock.ts';
import { systemdAgentControl } from './agent-control.ts';
import { applyDalstonChange } from './dalston-change.ts';
import { wireDalstonChange } from './dalston-change-wiring.ts';
import { applyHostSettings } from './host-settings-step.ts';
import { applyRelease, RELEASE_ROOT } from './release-step.ts';
import { fileRecordStore, type SyncDeps } from './sync-runner.ts';

/** host.json's keys that the Dalston step applies; a host-settings change is any other. */
export function hostSettingsChanged(
  desired: Parameters<typeof hostJsonFromDesired>[0],
  runningRaw: Record<string, unknown>,
) {
  return hostJsonFromDesired(desired, runningRaw).changedKeys;
}

/** Runs the bundle under `current` (the release this host runs) as a child process. */
export function runBundle(args: readonly string[], opts: { inherit?: boolean } = {}) {
  return new Promise<{ exitCode: number; output: string }>((resolve) => {
    const child = spawn(process.execPath, [join(RELEASE_ROOT, 'current', 'dalston-host.mjs'), ...args], {
      stdio: opts.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (c: Buffer) => {
      tail = (tail + c.toString()).slice(-2_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) => resolve({ exitCode: 1, output: err.message }));
    child.on('exit', (code, signal) =>
      resolve({ exitCode: code ?? (signal ? 1 : 0), output: tail.trim().split('\n').slice(-3).join(' | ') }),
    );
  });
}

export function wireSync(opts: {
  config: HostConfig;
  configPath: string;
  release: string;
  clock: Clock;
  logger: Logger;
  say: (line: string) => void;
  /** The compose env the Dalston change rewrites (COMPOSE_ENV_FILE on a host; tests: their own). */
  composeEnvFile?: string;
}): SyncDeps {
  const { config, configPath, clock, logger, say } = opts;
  if (!config.s3.bucket) {
    throw new ConfigError(
      's3.bucket',
      `${configPath}: s3.bucket is not set: there is no desired state to follow`,
    );
  }
  const store = new S3ObjectStore({
    bucket: config.s3.bucket,
    region: config.s3.region,
    endpoint: config.s3.endpoint,
    // Release bundles are streamed: no overall deadline, only an inactivity limit.
    requestTimeoutMs: 60_000,
  });
  const shell = new ProcessShell();
  const agent = systemdAgentControl(config, shell, clock);
  const readySeconds = config.agent.handoverReadySeconds;
  return {
    readDesired: () => readDesiredState(store, null),
    runningRelease: opts.release,
    readHost: async () => {
      const raw = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
      return { raw, config: parseConfig(raw, configPath) };
    },
    writeHost: (raw) => writeFileAtomic(configPath, `${JSON.stringify(raw, null, 2)}\n`, { mode: 0o644 }),
    hostSettingsChanged,
    record: fileRecordStore(convergenceFile(config.agent.stateDir)),
    clock,
    logger,
    say,
    steps: {
      release: (desired) =>
        applyRelease(
          {
            store,
            shell,
            agent,
            clock,
            readySeconds,
            logger,
            say,
            // The new bundle (current now points at it) installs its own units.
            afterSwap: () => runBundle(['bootstrap', '--config', configPath, '--steps', 'units']),
          },
          desired,
          opts.release,
        ),
      hostSettings: (desired, changed) =>
        applyHostSettings(
          {
            runBootstrap: (steps) =>
              runBundle(['bootstrap', '--config', configPath, '--steps', steps.join(',')]),
            agent,
            release: opts.release,
            readySeconds,
            clock,
            logger,
            say,
          },
          desired,
          changed,
        ),
      dalston: (from, to) =>
        applyDalstonChange(
          wireDalstonChange(from, logger, opts.composeEnvFile ? { composeEnvFile: opts.composeEnvFile } : {}),
          from,
          to,
          say,
        ),
    },
  };
}
