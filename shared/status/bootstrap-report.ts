/**
 * The bootstrap's result: written to /var/lib/dalston/bootstrap.json on the
 * host after every run and uploaded to `<statusPrefix><instance>/bootstrap.json`
 * in the bucket, where `dalston-aws status`/`wait` read it (a failed first boot
 * is visible from the laptop before any agent heartbeat exists). The schema is
 * the one definition of that contract; objects are not strict, so a newer host
 * may add fields.
 */
import { z } from 'zod';

/** `<prefix><instance>/bootstrap.json`, beside the agent's `latest.json`. */
export function bootstrapReportKey(prefix: string, instance: string): string {
  return `${prefix}${instance}/bootstrap.json`;
}

export const BOOTSTRAP_STEP_RESULTS = [
  'done',
  'unchanged',
  'skipped',
  'planned',
  'failed',
  'blocked',
] as const;

/**
 * Which steps a run chose: `full` every step, `quick` the every-boot checks
 * after a completed bootstrap, `steps` an explicit `--steps` list.
 */
export const BOOTSTRAP_PATHS = ['full', 'quick', 'steps'] as const;

const isoTime = z.iso.datetime({ offset: true });

/**
 * `running`: published while the bootstrap runs (at each step's start and
 * end), so the laptop sees the first boot before any heartbeat; `finished`
 * (or absent, from older hosts): the run's result.
 */
export const BOOTSTRAP_STATES = ['running', 'finished'] as const;

export const bootstrapStepRecordSchema = z.object({
  /** A step name, or `config` for the config check that precedes them. */
  name: z.string(),
  result: z.enum(BOOTSTRAP_STEP_RESULTS),
  detail: z.string(),
  durationMs: z.number().nonnegative(),
  changes: z.array(z.string()).optional(),
});

export const bootstrapReportSchema = z.object({
  version: z.string(),
  startedAt: isoTime,
  /** While running: the time of this update (kept required for older readers). */
  finishedAt: isoTime,
  /** While running: no step has failed so far. */
  ok: z.boolean(),
  dryRun: z.boolean(),
  exitCode: z.number().int(),
  path: z.enum(BOOTSTRAP_PATHS).optional(),
  /** The name the host used for its S3 keys (the EC2 instance id on AWS); set on upload. */
  instance: z.string().optional(),
  steps: z.array(bootstrapStepRecordSchema),
  state: z.enum(BOOTSTRAP_STATES).optional(),
  /** While running: the step in progress (absent between steps). */
  currentStep: z.object({ name: z.string(), startedAt: isoTime }).optional(),
  /** While running: steps of this run ended so far, and how many it has. */
  stepsDone: z.number().int().nonnegative().optional(),
  stepsTotal: z.number().int().nonnegative().optional(),
});

export type BootstrapStepRecord = z.infer<typeof bootstrapStepRecordSchema>;
export type BootstrapReport = z.infer<typeof bootstrapReportSchema>;

export type BootstrapReportParse =
  | { kind: 'ok'; report: BootstrapReport }
  | { kind: 'malformed'; reason: string };

/** Parses and shape-checks a bootstrap.json body; never throws. */
export function parseBootstrapReport(body: string): BootstrapReportParse {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    return { kind: 'malformed', reason: `not JSON (${(err as Error).message})` };
  }
  const parsed = bootstrapReportSchema.safeParse(raw);
  if (parsed.success) return { kind: 'ok', report: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : '(root)';
  return { kind: 'malformed', reason: `wrong shape at ${where}: ${issue?.message ?? 'invalid'}` };
}

export interface RunningReportInput {
  version: string;
  startedAt: string;
  now: Date;
  dryRun: boolean;
  path: NonNullable<BootstrapReport['path']>;
  /** The records so far (preamble included). */
  steps: readonly BootstrapStepRecord[];
  current: { name: string; startedAt: string } | null;
  stepsDone: number;
  stepsTotal: number;
}

/**
 * Pure: the report published while the bootstrap runs. The fields older
 * readers require hold the run so far: `finishedAt` is this update's time,
 * `ok` whether nothing has failed yet.
 */
export function runningReport(i: RunningReportInput): BootstrapReport {
  const ok = !i.steps.some((s) => s.result === 'failed');
  return {
    version: i.version,
    startedAt: i.startedAt,
    finishedAt: i.now.toISOString(),
    ok,
    dryRun: i.dryRun,
    exitCode: ok ? 0 : 1,
    path: i.path,
    steps: [...i.steps],
    state: 'running',
    ...(i.current ? { currentStep: { ...i.current } } : {}),
    stepsDone: i.stepsDone,
    stepsTotal: i.stepsTotal,
  };
}

/** Pure: is this a progress report of a run still going (not its result)? */
export function isRunning(r: BootstrapReport): boolean {
  return r.state === 'running';
}

/** Pure: the first failed step of a report (the one its exit code and message come from). */
export function firstFailure(r: BootstrapReport): BootstrapStepRecord | undefined {
  return r.steps.find((s) => s.result === 'failed');
}

/**
 * Pure: did this run leave the stack started? True when its `stack` step
 * started it (or found it running), or when a quick-path run succeeded (its
 * unit then starts the stack). False means no agent will report until someone
 * acts, so waiting for a heartbeat is pointless.
 */
export function stackStartedBy(r: BootstrapReport): boolean {
  if (r.steps.some((s) => s.name === 'stack' && (s.result === 'done' || s.result === 'unchanged')))
    return true;
  return r.ok && r.path === 'quick';
}
