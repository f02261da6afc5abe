/**
 * `dalston-host sync`'s core: read the desired state (through the one reader,
 * shared/desired/desired-state-source.ts), ask the planner for the next step,
 * apply it, record it, ask again — until converged, held (a step rolled back
 * or failed for this desired state), or a new release was swapped in (the
 * rest is applied by the new release's own sync: the command re-runs it).
 * Every state goes to the convergence record before and after each step, so
 * the agent reports `converging …` while a step runs.
 */
import type { HostConfig } from '../shared/config/schema.ts';
import { hostConfigSchema } from '../shared/config/schema.ts';
import {
  type ConvergenceRecord,
  type RecordRead,
  readConvergenceRecord,
  statusOf,
  writeConvergenceRecord,
} from '../shared/desired/convergence-record.ts';
import type {
  ChangeKind,
  ConvergenceResult,
  ConvergenceStatus,
} from '../shared/desired/convergence-status.ts';
import { type DesiredState, type HostVersions, versionsOf } from '../shared/desired/desired-state.ts';
import type { DesiredStateRead } from '../shared/desired/desired-state-source.ts';
import { ExitCode } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Clock } from '../shared/time/clock.ts';
import { type Attempt, keepHistory, type Plan, planNext } from './planner.ts';

/** host.json as it is on disk: the parsed config and the raw object (rewritten field by field). */
export interface RunningHost {
  config: HostConfig;
  raw: Record<string, unknown>;
}

/** A step's result; a Dalston step also says which version runs afterwards. */
export type StepResultOf<K extends ChangeKind> = ConvergenceResult & { kind: K };

export interface SyncSteps {
  release(desired: DesiredState): Promise<StepResultOf<'release'>>;
  hostSettings(desired: DesiredState, changedKeys: readonly string[]): Promise<StepResultOf<'host-settings'>>;
  dalston(from: HostConfig, to: HostConfig): Promise<StepResultOf<'dalston'> & { runs: 'old' | 'new' }>;
}

export interface SyncDeps {
  /** One full read of the desired state (no ETag: sync needs the body). */
  readDesired(): Promise<DesiredStateRead>;
  /** The version of the bundle this process runs (shared/version.ts). */
  runningRelease: string;
  readHost(): Promise<RunningHost>;
  /** Writes host.json (atomically); used after a Dalston change that left the new version running. */
  writeHost(raw: Record<string, unknown>): Promise<void>;
  /** host.json keys the desired state would change, Dalston's own fields excepted (the desired step's function). */
  hostSettingsChanged(desired: DesiredState, runningRaw: Record<string, unknown>): readonly string[];
  steps: SyncSteps;
  /** The convergence record (fileRecordStore: `<agent.stateDir>/convergence.json`). */
  record: RecordStore;
  clock: Clock;
  logger?: Logger;
  /** Progress lines for the terminal (the journal gets them through the logger). */
  say?: (line: string) => void;
}

export interface RecordStore {
  read(): Promise<RecordRead>;
  write(record: ConvergenceRecord): Promise<void>;
}

export function fileRecordStore(path: string): RecordStore {
  return { read: () => readConvergenceRecord(path), write: (r) => writeConvergenceRecord(path, r) };
}

export interface SyncOutcome {
  exitCode: number;
  status: ConvergenceStatus;
  /** A new release was swapped in: its own sync applies whatever is left. */
  reexec: boolean;
}

/** Pure: host.json with the Dalston fields of the desired state (ref, image tag, services), nothing else. */
export function withDalstonFields(
  runningRaw: Record<string, unknown>,
  desired: HostConfig,
): Record<string, unknown> {
  const dalston = { ...((runningRaw.dalston as Record<string, unknown> | undefined) ?? {}) };
  const compose = { ...((runningRaw.compose as Record<string, unknown> | undefined) ?? {}) };
  for (const [key, value] of [
    ['ref', desired.dalston.ref],
    ['imageTag', desired.dalston.imageTag],
  ] as const) {
    if (value === undefined) delete dalston[key];
    else dalston[key] = value;
  }
  compose.services = [...desired.compose.services];
  return { ...runningRaw, dalston, compose };
}

function versionOf(read: { etag: string; versionId: string | null }): string {
  return read.versionId ?? read.etag;
}

export async function runSync(deps: SyncDeps): Promise<SyncOutcome> {
  const { clock } = deps;
  const say = (line: string) => {
    deps.say?.(line);
    deps.logger?.info({ component: 'sync' }, line);
  };
  const now = () => new Date(clock.now()).toISOString();
  const before = await deps.record.read();
  let record: ConvergenceRecord | null = before.kind === 'ok' ? before.record : null;
  let host = await deps.readHost();
  const running = (): HostVersions => versionsOf(deps.runningRelease, host.config);
  const save = async (r: ConvergenceRecord) => {
    record = r;
    await deps.record.write(r);
  };
  const base = (): ConvergenceRecord => ({
    state: 'unknown',
    running: running(),
    desired: record?.desired ?? null,
    desiredVersion: record?.desiredVersion ?? null,
    checkedAt: now(),
    step: null,
    summary: '',
    lastResult: record?.lastResult ?? null,
    problem: null,
    history: record?.history ?? [],
  });

  const read = await deps.readDesired();
  if (read.kind !== 'ok') {
    const problem =
      read.kind === 'unchanged'
        ? 'the desired state answered "not modified" to a read without an ETag'
        : read.kind === 'missing'
          ? `no desired state at ${read.where}: nothing has been published for this host (terraform apply writes it)`
          : read.kind === 'invalid'
            ? `the desired state is invalid: ${read.reason}; nothing was changed`
            : `the desired state could not be read: ${read.reason}`;
    const code =
      read.kind === 'unreachable' || read.kind === 'unchanged' ? ExitCode.unavailable : ExitCode.config;
    const r = {
      ...base(),
      summary: problem,
      problem,
      ...(read.kind === 'invalid' ? { desiredVersion: read.versionId ?? read.etag } : {}),
    };
    await save(r);
    say(problem);
    return { exitCode: code, status: statusOf(r), reexec: false };
  }

  const desired = read.state;
  const desiredVersion = versionOf(read);
  const desiredVersions = versionsOf(desired.document.release.version, desired.host);
  let history: Attempt[] = keepHistory(record?.history ?? [], desiredVersion);

  for (;;) {
    const changed = deps.hostSettingsChanged(desired, host.raw);
    const plan = planNext({
      running: running(),
      desired: desiredVersions,
      desiredVersion,
      hostSettingsChanged: changed,
      history,
    });
    const common = {
      ...base(),
      desired: desiredVersions,
      desiredVersion,
      history,
    };
    if (plan.kind !== 'apply') {
      const r = { ...common, ...settled(plan) };
      await save(r);
      say(r.summary);
      return {
        exitCode: plan.kind === 'converged' ? ExitCode.ok : ExitCode.failure,
        status: statusOf(r),
        reexec: false,
      };
    }
    await save({ ...common, state: 'converging', step: plan.step, summary: `converging: ${plan.detail}` });
    say(`converging: ${plan.detail}`);
    const result = await applyStep(plan.step, changed);
    history = [
      ...history,
      { kind: plan.step, desiredVersion, outcome: result.outcome, message: result.message },
    ];
    const { runs: _runs, ...lastResult } = result as ConvergenceResult & { runs?: string };
    await save({
      ...common,
      running: running(),
      history,
      lastResult,
      state: 'converging',
      step: null,
      summary: result.message,
    });
    if (plan.step === 'release' && result.outcome === 'applied') {
      say(`release ${desiredVersions.release} runs; its sync applies the rest`);
      return { exitCode: ExitCode.ok, status: statusOf(record!), reexec: true };
    }
  }

  async function applyStep(step: ChangeKind, changed: readonly string[]): Promise<ConvergenceResult> {
    const startedAt = now();
    try {
      if (step === 'release') return await deps.steps.release(desired);
      if (step === 'host-settings') {
        const r = await deps.steps.hostSettings(desired, changed);
        host = await deps.readHost();
        return r;
      }
      const to = hostConfigSchema.parse(withDalstonFields(host.raw, desired.host));
      const r = await deps.steps.dalston(host.config, to);
      if (r.runs === 'new') {
        // What runs is what host.json names: the agent, restore and the next sync read it.
        const raw = withDalstonFields(host.raw, desired.host);
        await deps.writeHost(raw);
        host = { raw, config: to };
      }
      return r;
    } catch (err) {
      // Steps report their own failures; an exception here is unexpected, and recorded as such.
      return {
        kind: step,
        outcome: 'failed',
        message: `${step}: ${(err as Error).message ?? String(err)}`,
        startedAt,
        finishedAt: now(),
      };
    }
  }
}

/** Pure: the record's state and summary for a plan that applies nothing. */
export function settled(
  plan: Exclude<Plan, { kind: 'apply' }>,
): Pick<ConvergenceRecord, 'state' | 'step' | 'summary' | 'problem'> {
  if (plan.kind === 'converged') {
    return { state: 'converged', step: null, summary: 'running the desired state', problem: null };
  }
  return {
    state: plan.attempt.outcome === 'rolled-back' ? 'rolled-back' : 'failed',
    step: null,
    summary: plan.attempt.message,
    problem: plan.detail,
  };
}
