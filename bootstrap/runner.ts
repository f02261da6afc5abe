import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ExitCode, exitCodeFor, UsageError } from '../shared/errors.ts';
import { hostVersion } from '../shared/version.ts';
import { writeFileAtomic } from './atomic-write.ts';
import type { BootstrapContext } from './context.ts';
import type { Reporter, StepRecord } from './output.ts';
import { rooted, SystemPath } from './paths.ts';
import { dalstonStep } from './steps/dalston.ts';
import { dirsStep } from './steps/dirs.ts';
import { diskStep } from './steps/disk.ts';
import { fstabStep } from './steps/fstab.ts';
import { imagesStep } from './steps/images.ts';
import { mountStep } from './steps/mount.ts';
import { osStep } from './steps/os.ts';
import { packagesStep } from './steps/packages.ts';
import { secretsStep } from './steps/secrets.ts';
import { STEP_ORDER, type Step, type StepName } from './steps/step.ts';
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
    os: osStep(names),
    packages: packagesStep,
    disk: diskStep,
    mount: mountStep,
    fstab: fstabStep,
    dirs: dirsStep,
    dalston: dalstonStep,
    secrets: secretsStep,
    images: imagesStep,
    tailscale: tailscaleStep,
    units: unitsStep(),
    ...overrides,
  };
  return names.map((n) => all[n]);
}

export interface BootstrapReport {
  version: string;
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  dryRun: boolean;
  exitCode: number;
  steps: StepRecord[];
}

/**
 * Runs the steps in order and stops at the first failure (later steps build
 * on earlier ones). Returns the report and the exit code of the failure.
 */
export async function runSteps(
  ctx: BootstrapContext,
  steps: readonly Step[],
  reporter: Reporter,
  preamble: StepRecord[] = [],
): Promise<{ report: BootstrapReport; error?: unknown }> {
  const startedAt = new Date().toISOString();
  const records: StepRecord[] = [...preamble];
  let error: unknown;
  for (const step of steps) {
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
      records.push(rec);
      reporter.step(rec);
      for (const a of outcome.also ?? []) {
        const extra: StepRecord = { ...a, durationMs: 0 };
        records.push(extra);
        reporter.step(extra);
      }
    } catch (err) {
      error = err;
      const rec: StepRecord = {
        name: step.name,
        result: 'failed',
        detail: err instanceof Error ? err.message : String(err),
        durationMs: Math.round(performance.now() - t0),
      };
      records.push(rec);
      reporter.step(rec);
      break;
    }
  }
  const report: BootstrapReport = {
    version: hostVersion().version,
    startedAt,
    finishedAt: new Date().toISOString(),
    ok: error === undefined,
    dryRun: ctx.dryRun,
    exitCode: error === undefined ? ExitCode.ok : exitCodeFor(error),
    steps: records,
  };
  return { report, error };
}

/** `<root>/var/lib/dalston/bootstrap.json`, written on success and on failure (never in a dry run). */
export async function writeReport(root: string, report: BootstrapReport): Promise<string> {
  const path = rooted(root, SystemPath.result);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o644 });
  return path;
}
