import { HostError } from '../shared/errors.ts';
import { snapshotFreshness } from '../shared/status/heartbeat.ts';
import type { SnapshotRead } from './aws/snapshots.ts';
import { type DalstonApi, GatewayUnreachable, type HttpAnswer, TRANSCRIPTIONS_PATH } from './dalston-api.ts';
import { formatDuration, formatElapsed, type Styler } from './render/format.ts';

/**
 * `dalston-aws verify`: the checks from `terraform apply` to a transcript, in
 * order, each timed; the first that fails ends the run, named with what to do.
 * The decisions are pure functions of what was observed; runVerify only sequences them.
 */
export const CHECKS = ['instance', 'heartbeat', 'gateway', 'api key', 'transcription', 'artifacts'] as const;
export type CheckName = (typeof CHECKS)[number];

export interface CheckResult {
  name: CheckName;
  ok: boolean;
  detail: string;
  ms: number;
  /** What to do, for a failed check. */
  next?: string;
}

/** A check's failure: what was found and what to do. */
export class CheckFailed extends Error {
  constructor(
    message: string,
    readonly next: string,
  ) {
    super(message);
  }
}

/** An id no job has: an authenticated GET of it is 404, an unauthenticated one 401. */
export const NO_SUCH_JOB = '00000000-0000-0000-0000-000000000000';

const STATUS_NEXT = 'run `dalston-aws status` (services, bootstrap, heartbeat)';

/** Pure. */
export function judgeInstance(state: string): string {
  if (state === 'running') return 'running';
  throw new CheckFailed(
    `the instance is ${state}`,
    state === 'pending' ? 'wait for it: `dalston-aws wait`' : 'start it: `dalston-aws up`',
  );
}

/** Pure. */
export function judgeHeartbeat(read: SnapshotRead, location: string, nowMs: number): string {
  if (read.kind === 'missing')
    throw new CheckFailed(
      `no heartbeat at ${location}: the agent has not reported yet`,
      `a first boot takes a while: \`dalston-aws wait\`, then ${STATUS_NEXT}`,
    );
  if (read.kind === 'malformed')
    throw new CheckFailed(`the heartbeat at ${location} is malformed: ${read.reason}`, STATUS_NEXT);
  const f = snapshotFreshness(read.snapshot, nowMs);
  if (f.stale)
    throw new CheckFailed(
      `the last heartbeat is ${f.ageSeconds} s old (stale after ${f.staleAfterSeconds} s): the agent is not reporting`,
      `${STATUS_NEXT}; on the host (\`dalston-aws ssh\`): \`systemctl status dalston\``,
    );
  return `${f.ageSeconds} s old (stale after ${f.staleAfterSeconds} s), stack ${read.snapshot.state}`;
}

const unreachableNext = (base: string) =>
  `is this machine on the tailnet (\`tailscale status\`) and does the host serve ${base} ` +
  '(`dalston-aws ssh`, then `tailscale serve status`)? Another address: --gateway-url';

/** Pure. */
export function judgeHealth(a: HttpAnswer): string {
  if (a.status === 200) return 'GET /health → 200';
  throw new CheckFailed(`GET /health answered HTTP ${a.status}: ${a.text}`, STATUS_NEXT);
}

const KEY_NEXT =
  'use the key the host generated: `export DALSTON_API_KEY=$(dalston-aws api-key)`. A database that had ' +
  'API keys before this host generated one keeps its own: create one on the host with ' +
  '`docker exec <gateway container> python -m dalston.gateway.cli create-admin-key --name admin`';

/** Pure: the gateway's answer to an authenticated request for a job that does not exist. */
export function judgeAuth(a: HttpAnswer): string {
  if (a.status === 401 || a.status === 403)
    throw new CheckFailed(`the gateway refused the API key (HTTP ${a.status}): ${a.text}`, KEY_NEXT);
  if (a.status >= 500)
    throw new CheckFailed(`GET ${TRANSCRIPTIONS_PATH}/… answered HTTP ${a.status}`, STATUS_NEXT);
  return `accepted (GET ${TRANSCRIPTIONS_PATH}/<no such job> → ${a.status})`;
}

/** Pure: the answer to the submission → the job id. */
export function judgeSubmit(a: HttpAnswer): { id: string; status: string } {
  if (a.status === 401 || a.status === 403)
    throw new CheckFailed(`the gateway refused the API key on submit (HTTP ${a.status})`, KEY_NEXT);
  const body = (a.json ?? {}) as { id?: unknown; status?: unknown };
  if (a.status !== 201 && a.status !== 200)
    throw new CheckFailed(`POST ${TRANSCRIPTIONS_PATH} answered HTTP ${a.status}: ${a.text}`, STATUS_NEXT);
  if (typeof body.id !== 'string' || body.id === '')
    throw new CheckFailed(
      `POST ${TRANSCRIPTIONS_PATH} answered ${a.status} without a job id: ${a.text}`,
      STATUS_NEXT,
    );
  return { id: body.id, status: typeof body.status === 'string' ? body.status : 'unknown' };
}

export type JobState =
  | { kind: 'working'; status: string; progress: number | null }
  | { kind: 'completed' }
  | { kind: 'failed'; status: string; error: string };

/** Pure: one poll of the job. */
export function judgeJob(a: HttpAnswer, id: string): JobState {
  if (a.status !== 200)
    throw new CheckFailed(
      `GET ${TRANSCRIPTIONS_PATH}/${id} answered HTTP ${a.status}: ${a.text}`,
      STATUS_NEXT,
    );
  const j = (a.json ?? {}) as { status?: unknown; error?: unknown; progress?: unknown };
  const status = typeof j.status === 'string' ? j.status : 'unknown';
  if (status === 'completed') return { kind: 'completed' };
  if (status === 'failed' || status === 'cancelled') {
    const error = typeof j.error === 'string' ? j.error : JSON.stringify(j.error ?? null);
    return { kind: 'failed', status, error };
  }
  return { kind: 'working', status, progress: typeof j.progress === 'number' ? j.progress : null };
}

/** Pure: the artifacts a completed job leaves under jobs/<id>/ → what is missing (empty: all there). */
export function missingArtifacts(keys: readonly string[], id: string): string[] {
  const prefix = `jobs/${id}/`;
  const missing: string[] = [];
  if (
    !keys.some((k) => /^audio\/original\.[A-Za-z0-9]+$/.test(k.slice(prefix.length)) && k.startsWith(prefix))
  )
    missing.push('audio/original.<ext>');
  if (!keys.includes(`${prefix}transcript.json`)) missing.push('transcript.json');
  return missing;
}

export interface VerifyDeps {
  instanceState(): Promise<string>;
  heartbeat(): Promise<SnapshotRead>;
  heartbeatLocation: string;
  gatewayBase: string;
  /** The admin API key; throws CheckFailed when there is none to use. */
  apiKey(): Promise<string>;
  api(key: string): DalstonApi;
  /** Keys under jobs/<id>/ in the artifacts bucket. */
  jobObjects(id: string): Promise<string[]>;
  bucket: string;
  audio: { bytes: Uint8Array; name: string };
  model: string;
  pollMs: number;
  timeoutMs: number;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** A line about the job while it runs. */
  progress(line: string): void;
}

export interface VerifyResult {
  checks: CheckResult[];
  failed: CheckResult | null;
  totalMs: number;
  jobId: string | null;
}

/** Runs the checks in order; stops at the first failure. */
export async function runVerify(deps: VerifyDeps): Promise<VerifyResult> {
  const t0 = deps.now();
  const checks: CheckResult[] = [];
  let key = '';
  let jobId: string | null = null;
  const steps: Record<CheckName, () => Promise<string>> = {
    instance: async () => judgeInstance(await deps.instanceState()),
    heartbeat: async () => judgeHeartbeat(await deps.heartbeat(), deps.heartbeatLocation, deps.now()),
    gateway: async () => judgeHealth(await deps.api('').health()),
    'api key': async () => {
      key = await deps.apiKey();
      return judgeAuth(await deps.api(key).getJob(NO_SUCH_JOB));
    },
    transcription: async () => {
      const api = deps.api(key);
      const sub = judgeSubmit(await api.submit(deps.audio.bytes, deps.audio.name, deps.model));
      jobId = sub.id;
      const started = deps.now();
      deps.progress(`job ${sub.id} ${sub.status}`);
      let last = `${sub.status}`;
      for (;;) {
        const s = judgeJob(await api.getJob(sub.id), sub.id);
        const elapsed = formatElapsed(deps.now() - started);
        if (s.kind === 'completed')
          return `job ${sub.id} completed (${deps.audio.name}, model ${deps.model})`;
        if (s.kind === 'failed')
          throw new CheckFailed(
            `job ${sub.id} ${s.status}: ${s.error}`,
            `the job's tasks and engine logs: on the host (\`dalston-aws ssh\`), \`docker compose logs\` of the orchestrator and engines; ${STATUS_NEXT}`,
          );
        const line = `${s.status}${s.progress === null ? '' : ` ${Math.round(s.progress)}%`}`;
        if (line !== last) deps.progress(`job ${sub.id} ${line} (${elapsed})`);
        last = line;
        if (deps.now() - started >= deps.timeoutMs)
          throw new CheckFailed(
            `job ${sub.id} still ${s.status} after ${formatDuration(deps.timeoutMs / 1000)}`,
            `the engines may be down or still loading their model: ${STATUS_NEXT}; wait longer with --timeout`,
          );
        await deps.sleep(deps.pollMs);
      }
    },
    artifacts: async () => {
      const id = jobId!;
      const keys = await deps.jobObjects(id);
      const missing = missingArtifacts(keys, id);
      if (missing.length > 0)
        throw new CheckFailed(
          `s3://${deps.bucket}/jobs/${id}/ lacks ${missing.join(' and ')} (found: ${keys.length === 0 ? 'nothing' : keys.map((k) => k.slice(`jobs/${id}/`.length)).join(', ')})`,
          "Dalston writes them with the instance role: check the gateway's and orchestrator's logs for S3 errors (`dalston-aws ssh`), and the role's jobs/ grant",
        );
      return `s3://${deps.bucket}/jobs/${id}/: ${keys.length} objects, audio/original and transcript.json among them`;
    },
  };
  for (const name of CHECKS) {
    const start = deps.now();
    try {
      const detail = await steps[name]();
      checks.push({ name, ok: true, detail, ms: deps.now() - start });
    } catch (err) {
      const failed: CheckResult = {
        name,
        ok: false,
        ms: deps.now() - start,
        ...describeFailure(err, deps.gatewayBase),
      };
      checks.push(failed);
      return { checks, failed, totalMs: deps.now() - t0, jobId };
    }
  }
  return { checks, failed: null, totalMs: deps.now() - t0, jobId };
}

function describeFailure(err: unknown, base: string): { detail: string; next: string } {
  if (err instanceof CheckFailed) return { detail: err.message, next: err.next };
  if (err instanceof GatewayUnreachable)
    return { detail: `cannot reach the gateway: ${err.message}`, next: unreachableNext(base) };
  if (err instanceof HostError) return { detail: err.message, next: STATUS_NEXT };
  throw err;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Pure: the one-screen report. */
export function renderVerify(r: VerifyResult, head: string, style: Styler): string {
  const width = Math.max(...CHECKS.map((c) => c.length));
  const lines = [style.bold(head)];
  for (const name of CHECKS) {
    const c = r.checks.find((x) => x.name === name);
    const label = name.padEnd(width);
    if (!c) lines.push(`  ${style.dim('–')} ${style.dim(label)}  ${style.dim('not run')}`);
    else
      lines.push(
        `  ${c.ok ? style.green('✓') : style.red('✗')} ${label}  ${style.dim(secs(c.ms).padStart(7))}  ${c.detail}`,
      );
  }
  if (r.failed) {
    lines.push(
      `verify: ${style.red(`failed at ${r.failed.name}`)} after ${secs(r.totalMs)}: ${r.failed.detail}`,
    );
    lines.push(`next: ${r.failed.next}`);
  } else {
    lines.push(`verify: ${style.green(`${CHECKS.length} checks passed`)} in ${secs(r.totalMs)}`);
  }
  return `${lines.join('\n')}\n`;
}
