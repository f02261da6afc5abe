import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ExitCode, exitCodeFor, UsageError } from '../shared/errors.ts';
import { VOLUME_REFUSAL_FILE } from '../shared/mount/volume-refusal.ts';
import { type BootstrapReport, runningReport } from '../shared/status/bootstrap-report.ts';
import { hostVersion } from '../shared/version.ts';
import { writeFileAtomic } from './atomic-write.ts';
import type { BootstrapContext } from './context.ts';
import type { Reporter, StepRecord } from './output.ts';
import { rooted, SystemPath } from './paths.ts';
import { apiKeyStep } from './steps/api-key.ts';
import { dalstonStep } from './steps/dalston.ts';
import { desiredStep } from './steps/desired.ts';
import { dirsStep } from './steps/dirs.ts';
import { diskStep } from './steps/disk.ts';
import { fstabStep } from './steps/fstab.ts';
import { imagesStep } from './steps/images.ts';
import { mountStep } from './steps/mount.ts';
import { osStep } from './steps/os.ts';
import { packagesStep } from './steps/packages.ts';
import { secretsStep } from './steps/secrets.ts';
import { stackStep } from './steps/stack.ts';
import {
  type BootstrapPath,
  STEP_NEEDS,
  STEP_ORDER,
  type Step,
  type StepName,
  type StepResult,
} from './steps/step.ts';
import { tailscaleStep } from './steps/tailscale.ts';
import { unitsStep } from './steps/units.ts';

/** `--steps a,b` → names in canonical order; unknown or empty → usage error (exit 2). */
export function parseSteps(value: string | undefined): StepName[] {
  if (value === undefined) return [...STEP_ORDER];
  const asked = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (asked.length === 0) throw new UsageError(`--steps is empty; choose from ${STEP_ORDER.join(',')}`);
  const unknown = asked.filter((s) => !(STEP_ORDER as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown step${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; steps are ${STEP_ORDER.join(',')}`,
    );
  }
  return STEP_ORDER.filter((s) => asked.includes(s));
}

export function buildSteps(
  names: readonly StepName[],
  overrides: Partial<Record<StepName, Step>> = {},
): Step[] {
  const all: Record<StepName, Step> = {
    // Where the desired state is comes from host.json here; bootstrap/command.ts adds its flags.
    desired: desiredStep(),
    os: osStep(names),
    packages: packagesStep,
    disk: diskStep,
    mount: mountStep,
    fstab: fstabStep,
    dirs: dirsStep,
    dalston: dalstonStep,
    secrets: secretsStep,
    images: imagesStep,
    stack: stackStep,
    'api-key': apiKeyStep,
    tailscale: tailscaleStep,
    units: unitsStep(),
    ...overrides,
  };
  return names.map((n) => all[n]);
}

export type { BootstrapReport };

/** Pure: the need of `step` that failed or was blocked in this run, if any. */
export function blockingNeed(step: StepName, results: ReadonlyMap<string, StepResult>): StepName | undefined {
  return STEP_NEEDS[step].find((n) => {
    const r = results.get(n);
    return r === 'failed' || r === 'blocked';
  });
}

export interface RunHooks {
  /**
   * Called (synchronously) with the run so far at each step's start and end,
   * for publishing progress; it must return at once, and what it throws is
   * ignored: progress never fails or slows a step.
   */
  onProgress?: (report: BootstrapReport) => void;
}

/**
 * Runs the steps in order. A failing step does not stop the run: the steps
 * that build on it (STEP_NEEDS) are recorded as `blocked`, the independent
 * ones still run, so one outside failure (a registry, an expired Tailscale
 * key) costs only what depends on it. Returns the report and the first error:
 * its exit code is the run's.
 */
export async function runSteps(
  ctx: BootstrapContext,
  steps: readonly Step[],
  reporter: Reporter,
  preamble: StepRecord[] = [],
  path: BootstrapPath | 'steps' = 'steps',
  hooks: RunHooks = {},
): Promise<{ report: BootstrapReport; error?: unknown }> {
  const startedAt = new Date().toISOString();
  const records: StepRecord[] = [...preamble];
  // Steps, not checks: the desired step (run before) counts, the config check does not.
  const before = preamble.filter((r) => r.name !== 'config').length;
  let ended = 0;
  const publish = (current: string | null) => {
    if (!hooks.onProgress || ctx.dryRun) return;
    try {
      const now = new Date();
      hooks.onProgress(
        runningReport({
          version: hostVersion().version,
          startedAt,
          now,
          dryRun: ctx.dryRun,
          path,
          steps: records,
          current: current ? { name: current, startedAt: now.toISOString() } : null,
          stepsDone: before + ended,
          stepsTotal: before + steps.length,
        }),
      );
    } catch {
      // Progress is a convenience for the laptop; the run itself is what counts.
    }
  };
  const results = new Map<string, StepResult>();
  const stepErrors = new Map<string, unknown>();
  let error: unknown;
  for (const step of steps) {
    const blocker = blockingNeed(step.name, results);
    if (blocker) {
      const rec: StepRecord = {
        name: step.name,
        result: 'blocked',
        detail: `not run: it needs ${blocker}, which ${results.get(blocker) === 'failed' ? 'failed' : 'did not run'}`,
        durationMs: 0,
      };
      results.set(step.name, 'blocked');
      records.push(rec);
      reporter.step(rec);
      ended++;
      continue;
    }
    publish(step.name);
    const t0 = performance.now();
    const c: BootstrapContext = { ...ctx, progress: (m) => reporter.progress(step.name, m) };
    try {
      const outcome = await step.run(c);
      const rec: StepRecord = {
        name: step.name,
        result: outcome.result,
        detail: outcome.detail,
        durationMs: Math.round(performance.now() - t0),
        ...(outcome.changes ? { changes: outcome.changes } : {}),
      };
      results.set(step.name, outcome.result);
      records.push(rec);
      reporter.step(rec);
      for (const a of outcome.also ?? []) {
        const extra: StepRecord = { ...a, durationMs: 0 };
        records.push(extra);
        reporter.step(extra);
      }
    } catch (err) {
      error ??= err;
      stepErrors.set(step.name, err);
      const rec: StepRecord = {
        name: step.name,
        result: 'failed',
        detail: err instanceof Error ? err.message : String(err),
        durationMs: Math.round(performance.now() - t0),
      };
      results.set(step.name, 'failed');
      records.push(rec);
      reporter.step(rec);
    }
    ended++;
    publish(null);
  }
  if (!ctx.dryRun) await recordVolumeRefusal(ctx.root, results, stepErrors);
  const report: BootstrapReport = {
    version: hostVersion().version,
    startedAt,
    finishedAt: new Date().toISOString(),
    ok: error === undefined,
    dryRun: ctx.dryRun,
    exitCode: error === undefined ? ExitCode.ok : exitCodeFor(error),
    path,
    steps: records,
    state: 'finished',
  };
  return { report, error };
}

/** The steps whose refusal of a disk the agent must honour (shared/mount/volume-refusal.ts). */
const VOLUME_STEPS = ['disk', 'mount'] as const;

/**
 * Tells the agent when this run refused the data volume (a disk or mount step
 * failed as unsafe): systemd may have mounted something at dataDir from fstab
 * regardless. A run that mounted the volume (or found it mounted) clears it.
 */
async function recordVolumeRefusal(
  root: string,
  results: ReadonlyMap<string, StepResult>,
  errors: ReadonlyMap<string, unknown>,
): Promise<void> {
  const path = rooted(root, VOLUME_REFUSAL_FILE);
  const refused = VOLUME_STEPS.find((s) => {
    const err = errors.get(s);
    return err !== undefined && exitCodeFor(err) === ExitCode.unsafeDisk;
  });
  if (refused) {
    const err = errors.get(refused);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFileAtomic(
      path,
      `${JSON.stringify({ step: refused, message: err instanceof Error ? err.message : String(err), at: new Date().toISOString() })}\n`,
      { mode: 0o644 },
    );
    return;
  }
  const mount = results.get('mount');
  if (mount === 'done' || mount === 'unchanged') await rm(path, { force: true });
}

/** `<root>/var/lib/dalston/bootstrap.json`, written on success and on failure (never in a dry run). */
export async function writeReport(root: string, report: BootstrapReport): Promise<string> {
  const path = rooted(root, SystemPath.result);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o644 });
  return path;
}

/**
 * `<root>/var/lib/dalston/bootstrap-complete`: written once a full run has
 * succeeded on this host (its root disk); from then on every boot takes the
 * quick path. On the root disk on purpose: packages and units live there, so a
 * replaced instance starts without it and runs everything again.
 */
export async function bootstrapCompleted(root: string): Promise<boolean> {
  try {
    await stat(rooted(root, SystemPath.completeMarker));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export async function markBootstrapCompleted(root: string, report: BootstrapReport): Promise<void> {
  const path = rooted(root, SystemPath.completeMarker);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFileAtomic(
    path,
    `${JSON.stringify({ version: report.version, completedAt: report.finishedAt })}\n`,
    { mode: 0o644 },
  );
}
