import { isAbsolute, resolve } from 'node:path';
import { SSMClient } from '@aws-sdk/client-ssm';
import { configFlag, parseCommandArgs } from '../shared/cli-args.ts';
import { loadConfig, parseConfig } from '../shared/config/load.ts';
import { DEFAULT_CONFIG_PATH, type HostConfig } from '../shared/config/schema.ts';
import { DESIRED_STATE_KEY } from '../shared/desired/desired-state.ts';
import { ExitCode, exitCodeFor, UsageError } from '../shared/errors.ts';
import { componentLogger, createLogger, type Logger } from '../shared/logger.ts';
import { type MountProbe, systemMountProbe } from '../shared/mount/data-mount.ts';
import { type Shell, ZxShell } from '../shared/shell.ts';
import type { BootstrapReport } from '../shared/status/bootstrap-report.ts';
import { type Clock, systemClock } from '../shared/time/clock.ts';
import { hostVersion } from '../shared/version.ts';
import type { BootstrapContext, HostFacts, SsmLike } from './context.ts';
import { realHost } from './host.ts';
import { NETWORK_LIMITS, type NetworkLimits } from './network-limits.ts';
import { jsonReporter, type Reporter, type StepRecord, terminalReporter } from './output.ts';
import { rooted, SystemPath } from './paths.ts';
import { readIfExists } from './read-if-exists.ts';
import { progressPublisher, type ReportUploadDeps, uploadBootstrapReport } from './report-upload.ts';
import {
  bootstrapCompleted,
  buildSteps,
  markBootstrapCompleted,
  parseSteps,
  runSteps,
  writeReport,
} from './runner.ts';
import { COMPOSE_ENV_PATH, type DesiredStoreFactory, desiredStep } from './steps/desired.ts';
import {
  bootPlan,
  fullPathReason,
  isFullRun,
  QUICK_STEPS,
  STEP_ORDER,
  type Step,
  type StepName,
} from './steps/step.ts';

export const BOOTSTRAP_USAGE = `Usage: dalston-host bootstrap [--config FILE] [--root DIR] [--steps s1,s2,...|--boot] [--dry-run]
                             [--desired-state s3://BUCKET/${DESIRED_STATE_KEY} --region REGION]

Turns this machine into a Dalston host; safe to re-run (each step checks first).
A failed step blocks only the steps that build on it; the others still run.
  --config FILE   host config (default ${DEFAULT_CONFIG_PATH}; an absolute path is read under --root)
  --root DIR      prefix for every system path read or written (fstab, units, state)
  --steps LIST    comma list from: ${STEP_ORDER.join(',')} (default: all)
  --boot          what dalston-bootstrap.service runs at every boot: all steps until a full
                  run has succeeded on this host (${SystemPath.completeMarker}), then only ${QUICK_STEPS.join(',')}
                  (all steps again when the desired step moved host.json to another volume.id or dataDir)
  --dry-run       print every change it would make; change nothing
  --desired-state where the desired state is before host.json exists (the user-data passes it);
                  a running host reads it from host.json's s3 section. The desired step (first)
                  writes host.json and ${COMPOSE_ENV_PATH} from it; AWS_ENDPOINT_URL_S3 names an
                  S3-compatible server
  --region R      the bucket's region, with --desired-state
The result goes to ${SystemPath.result} and, with s3.bucket set, to
s3://<bucket>/<s3.statusPrefix><instance-id>/bootstrap.json (read by \`dalston-aws status\`).
Exit codes: 0 done, 2 usage, 65 unsafe disk / wrong device at dataDir, 69 volume not found, 78 bad config, 1 other.`;

/** Everything a test may replace; production uses the real host. */
export interface BootstrapDeps {
  shell?: Shell;
  host?: HostFacts;
  mounts?: MountProbe;
  clock?: Clock;
  ssm?: () => SsmLike;
  sysfsRoot?: string;
  devRoot?: string;
  stdout?: { write(s: string): unknown; isTTY?: boolean };
  stderr?: { write(s: string): unknown };
  log?: Logger;
  steps?: Partial<Record<StepName, Step>>;
  limits?: NetworkLimits;
  /** Where the result is uploaded (tests: a local S3 server or a fake store). */
  upload?: ReportUploadDeps;
  /** Where the desired state is read from (tests: a local S3 server or a fake store). */
  desiredStore?: DesiredStoreFactory;
  /** The environment (AWS_ENDPOINT_URL_S3); process.env by default. */
  env?: NodeJS.ProcessEnv;
}

export async function bootstrapCommand(args: string[], deps: BootstrapDeps = {}): Promise<number> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  let names: StepName[];
  let values: {
    config?: string;
    root?: string;
    steps?: string;
    boot?: boolean;
    'dry-run'?: boolean;
    'desired-state'?: string;
    region?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseCommandArgs(args, {
      ...configFlag,
      root: { type: 'string' },
      steps: { type: 'string' },
      boot: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'desired-state': { type: 'string' },
      region: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }));
    if (values.help) {
      stdout.write(`${BOOTSTRAP_USAGE}\n`);
      return ExitCode.ok;
    }
    if (values.root !== undefined && values.root.trim() === '') throw new UsageError('--root is empty');
    if (values.boot && values.steps !== undefined)
      throw new UsageError('--boot chooses the steps itself; leave out --steps');
    names = parseSteps(values.steps);
    if (values.region !== undefined && values['desired-state'] === undefined)
      throw new UsageError('--region goes with --desired-state');
  } catch (err) {
    stderr.write(`dalston-host bootstrap: ${(err as Error).message}\n${BOOTSTRAP_USAGE}\n`);
    return exitCodeFor(err);
  }

  const root = values.root ? resolve(values.root) : '/';
  const dryRun = values['dry-run'] === true;
  const tty = stdout.isTTY === true;
  const log = componentLogger(deps.log ?? createLogger({ name: 'bootstrap' }), 'bootstrap');
  const reporter: Reporter = tty ? terminalReporter(stdout) : jsonReporter(log);
  // An absolute --config is a system path (read under --root); a relative one is a local file.
  const configArg = values.config ?? DEFAULT_CONFIG_PATH;
  const configPath = isAbsolute(configArg) ? rooted(root, configArg) : resolve(configArg);

  let path: BootstrapReport['path'] = values.steps === undefined ? 'full' : 'steps';
  if (values.boot) {
    const plan = bootPlan(await bootstrapCompleted(root));
    names = plan.steps;
    path = plan.path;
    reporter.progress(
      'boot',
      plan.path === 'quick'
        ? `quick path (${names.join(',')}): a full bootstrap has succeeded on this host`
        : 'full path (every step): no full bootstrap has succeeded on this host yet',
    );
  }

  let ssm: SsmLike | undefined;
  const contextFor = (config: HostConfig): BootstrapContext => ({
    config,
    configPath,
    root,
    dryRun,
    shell: deps.shell ?? new ZxShell(),
    host: deps.host ?? realHost,
    mounts: deps.mounts ?? systemMountProbe,
    clock: deps.clock ?? systemClock,
    log,
    sysfsRoot: deps.sysfsRoot ?? '/sys',
    devRoot: deps.devRoot ?? '/dev',
    progress: () => {},
    ssm: deps.ssm ?? (() => (ssm ??= ssmClientFor(config))),
    limits: deps.limits ?? NETWORK_LIMITS,
    state: {},
  });

  // The desired step runs before host.json is loaded: it writes it (at first boot, from nothing).
  const preamble: StepRecord[] = [];
  let desiredError: unknown;
  if (names.includes('desired')) {
    const env = deps.env ?? process.env;
    const step =
      deps.steps?.desired ??
      desiredStep({
        ...(values['desired-state'] !== undefined ? { url: values['desired-state'] } : {}),
        ...(values.region !== undefined ? { region: values.region } : {}),
        ...(env.AWS_ENDPOINT_URL_S3 ? { endpoint: env.AWS_ENDPOINT_URL_S3 } : {}),
        ...(deps.desiredStore ? { store: deps.desiredStore } : {}),
      });
    // It reads host.json itself (raw: an invalid one is what the desired state may fix).
    const desiredCtx = contextFor(parseConfig({}));
    const r = await runSteps(desiredCtx, [step], reporter, [], path);
    preamble.push(...r.report.steps);
    desiredError = r.error;
    const widen = values.boot
      ? fullPathReason(path === 'quick' ? 'quick' : 'full', desiredCtx.state.hostChanged ?? [])
      : null;
    if (widen) {
      names = [...STEP_ORDER];
      path = 'full';
      reporter.progress('boot', `full path (every step): ${widen}`);
    }
    if (desiredError !== undefined && (await readIfExists(configPath)) === undefined) {
      // Nothing to run on: no host.json was there and none could be written.
      stderr.write(`dalston-host bootstrap: ${(desiredError as Error).message}\n`);
      if (!dryRun) await safeWriteReport(root, { ...r.report, path }, stderr);
      return exitCodeFor(desiredError);
    }
  }
  const fullRun = isFullRun(names);
  const rest = names.filter((n) => n !== 'desired');

  // The config is validated before any step: a bad file changes nothing (exit 78).
  const t0 = performance.now();
  let loaded: Awaited<ReturnType<typeof loadConfig>>;
  try {
    loaded = await loadConfig(configPath, { mustExist: values.config !== undefined });
  } catch (err) {
    const rec: StepRecord = {
      name: 'config',
      result: 'failed',
      detail: (err as Error).message,
      durationMs: Math.round(performance.now() - t0),
    };
    reporter.step(rec);
    stderr.write(`dalston-host bootstrap: ${rec.detail}\n`);
    if (!dryRun) await safeWriteReport(root, failedReport([...preamble, rec], exitCodeFor(err)), stderr);
    return exitCodeFor(err);
  }
  const configRec: StepRecord = {
    name: 'config',
    result: 'unchanged',
    detail: loaded.fromFile ? `${configPath} is valid` : `${configPath} not found: using defaults`,
    durationMs: Math.round(performance.now() - t0),
  };
  reporter.step(configRec);

  // Progress goes where the result goes (a bucket known, never in a dry run), from the first step on.
  const progress =
    !dryRun && loaded.config.s3.bucket ? progressPublisher(loaded.config, log, deps.upload) : null;
  const run = await runSteps(
    contextFor(loaded.config),
    buildSteps(rest, deps.steps),
    reporter,
    [...preamble, configRec],
    path,
    progress ? { onProgress: (r) => progress.offer(r) } : {},
  );
  // Before the result is uploaded: a progress upload still in flight must not land after it.
  await progress?.close();
  const { report } = run;
  // The first error is the run's: a failed desired step (host.json kept) comes before any other.
  const error = desiredError ?? run.error;
  if (desiredError !== undefined) {
    report.ok = false;
    report.exitCode = exitCodeFor(desiredError);
  }
  if (dryRun) {
    if (tty) stdout.write(error ? '' : 'dry run: nothing was changed\n');
  } else {
    if (report.ok && fullRun) await safeMarkCompleted(root, report, stderr);
    await safeWriteReport(root, report, stderr);
    if (loaded.config.s3.bucket) {
      const up = await uploadBootstrapReport(loaded.config, report, log, deps.upload);
      if (up.ok) log.info({ url: up.url }, `bootstrap result uploaded to ${up.url}`);
      // A convenience for the laptop: a failed upload is said, never fatal.
      else log.warn({ reason: up.reason }, `could not upload the bootstrap result: ${up.reason}`);
    }
  }
  if (error !== undefined) {
    const failed = report.steps.filter((r) => r.result === 'failed').length;
    const more = failed > 1 ? ` (and ${failed - 1} more failed step${failed > 2 ? 's' : ''})` : '';
    stderr.write(`dalston-host bootstrap: ${(error as Error).message ?? String(error)}${more}\n`);
    return exitCodeFor(error);
  }
  return ExitCode.ok;
}

async function safeMarkCompleted(
  root: string,
  report: BootstrapReport,
  stderr: { write(s: string): unknown },
): Promise<void> {
  try {
    await markBootstrapCompleted(root, report);
  } catch (err) {
    // Without the marker the next boot runs every step again: slower, never wrong.
    stderr.write(
      `dalston-host bootstrap: could not write the completion marker: ${(err as Error).message}\n`,
    );
  }
}

/**
 * The tailscale step's SSM client. Its region comes from host.json (Terraform
 * writes the instance's region as s3.region): nothing sets AWS_REGION for the
 * bootstrap on a host, and the SDK does not ask IMDS for a region.
 */
export function ssmClientFor(config: HostConfig): SSMClient {
  return new SSMClient(config.s3.region ? { region: config.s3.region } : {});
}

function failedReport(steps: StepRecord[], exitCode: number): BootstrapReport {
  const now = new Date().toISOString();
  return {
    version: hostVersion().version,
    startedAt: now,
    finishedAt: now,
    ok: false,
    dryRun: false,
    exitCode,
    steps,
  };
}

async function safeWriteReport(
  root: string,
  report: Parameters<typeof writeReport>[1],
  stderr: { write(s: string): unknown },
): Promise<void> {
  try {
    await writeReport(root, report);
  } catch (err) {
    // The result file is a convenience; failing to write it must not hide the real outcome.
    stderr.write(`dalston-host bootstrap: could not write the result file: ${(err as Error).message}\n`);
  }
}
