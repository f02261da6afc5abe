/**
 * Pure judgements on what the host reports about converging
 * (shared/desired/convergence-status.ts): desired vs running, whether a
 * published version has been reached (`deploy`), and the one drift line of
 * `status`.
 */
import type { ConvergenceState, ConvergenceStatus } from '../shared/desired/convergence-status.ts';
import type { HostVersions } from '../shared/desired/desired-state.ts';
import { snapshotFreshness } from '../shared/status/heartbeat.ts';
import { type ObjectVersion, type SnapshotRead, sameEtag } from './aws/snapshots.ts';
import { listDiff } from './desired-edit.ts';
import { formatDuration, formatTime } from './render/format.ts';

/** What changes from running to desired, one item per version that differs. */
export function versionDiffs(desired: HostVersions, running: HostVersions): string[] {
  const out: string[] = [];
  const v = (x: string | null) => x ?? '(none)';
  if (desired.release !== running.release) out.push(`release ${running.release} → ${desired.release}`);
  if (desired.dalstonRef !== running.dalstonRef)
    out.push(`dalston ref ${v(running.dalstonRef)} → ${v(desired.dalstonRef)}`);
  if (desired.imageTag !== running.imageTag)
    out.push(`image tag ${v(running.imageTag)} → ${v(desired.imageTag)}`);
  const s = listDiff(running.services, desired.services);
  if (s) out.push(`services ${s}`);
  return out;
}

/** The desired-vs-running table `deploy` prints; `running` null when the host reports none. */
export function renderVersions(desired: HostVersions, running: HostVersions | null): string {
  const services = (xs: readonly string[]) => (xs.length === 0 ? 'all' : xs.join(', '));
  const rows: Array<[string, string, string]> = [
    ['release', desired.release, running?.release ?? 'unknown'],
    ['dalston ref', desired.dalstonRef ?? '(none)', running ? (running.dalstonRef ?? '(none)') : 'unknown'],
    ['image tag', desired.imageTag ?? '(none)', running ? (running.imageTag ?? '(none)') : 'unknown'],
    ['services', services(desired.services), running ? services(running.services) : 'unknown'],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max('desired'.length, ...rows.map((r) => r[1].length));
  const line = (a: string, b: string, c: string, mark: string) =>
    `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}${mark}`.trimEnd();
  const out = [line('', 'desired', 'running', '')];
  for (const [label, d, r] of rows) {
    out.push(line(label, d, r, running && d !== r ? '   ≠' : ''));
  }
  return `${out.join('\n')}\n`;
}

/** The host's record names this object version (it records the VersionId or the ETag it read). */
export function reportsVersion(c: ConvergenceStatus, v: ObjectVersion): boolean {
  const d = c.desiredVersion;
  if (!d) return false;
  return (v.versionId !== null && d === v.versionId) || sameEtag(d, v.etag);
}

export function showVersion(v: ObjectVersion): string {
  return v.versionId ?? v.etag?.replace(/"/g, '') ?? 'unknown';
}

export type RolloutVerdict =
  | { kind: 'converged'; convergence: ConvergenceStatus }
  | { kind: 'waiting'; phase: 'heartbeat' | 'pickup' | 'converging'; detail: string }
  | { kind: 'failed'; message: string };

/**
 * One look at the heartbeat while `deploy` waits for the host to reach the
 * published version: converged (done), rolled back or failed (stop, with the
 * host's message), or still waiting (with what it waits on). `read` is null
 * when S3 did not answer this time.
 */
export function judgeRollout(
  read: SnapshotRead | null,
  published: ObjectVersion,
  nowMs: number,
): RolloutVerdict {
  if (read === null) return { kind: 'waiting', phase: 'heartbeat', detail: 'S3 not answering' };
  if (read.kind === 'missing') return { kind: 'waiting', phase: 'heartbeat', detail: 'no heartbeat yet' };
  if (read.kind === 'malformed')
    return { kind: 'waiting', phase: 'heartbeat', detail: `snapshot unreadable: ${read.reason}` };
  const snap = read.snapshot;
  const fresh = snapshotFreshness(snap, nowMs);
  const c = snap.convergence;
  if (!c) {
    // The contract: no field means an agent from before convergence. It has no sync and cannot get one
    // by itself, so waiting would only end in the timeout. A stale snapshot may be from before an upgrade.
    if (fresh.stale) {
      return {
        kind: 'waiting',
        phase: 'heartbeat',
        detail: `last heartbeat is stale (${formatDuration(fresh.ageSeconds)} old): agent not reporting`,
      };
    }
    return {
      kind: 'failed',
      message:
        `the host's agent ${snap.version} predates convergence: it does not follow config/host.json. ` +
        'Replace the instance once (terraform apply -replace=module.ec2.aws_instance.this); from then on it converges by itself',
    };
  }
  if (!reportsVersion(c, published)) {
    if (fresh.stale) {
      return {
        kind: 'waiting',
        phase: 'heartbeat',
        detail: `last heartbeat is stale (${formatDuration(fresh.ageSeconds)} old): agent not reporting`,
      };
    }
    const checked = c.checkedAt ? `last checked ${formatTime(c.checkedAt)}` : 'not checked yet';
    const busy = c.state === 'converging' ? `; still on an earlier change: ${c.summary}` : '';
    const problem = c.problem ? `; ${c.problem}` : '';
    return {
      kind: 'waiting',
      phase: 'pickup',
      detail: `host has not read this version yet (${checked}; it checks every 60 s)${busy}${problem}`,
    };
  }
  switch (c.state) {
    case 'converged':
      return { kind: 'converged', convergence: c };
    case 'rolled-back':
    case 'failed':
      return { kind: 'failed', message: failureMessage(c) };
    case 'converging':
      return {
        kind: 'waiting',
        phase: 'converging',
        detail: `${c.step ? `${c.step}: ` : ''}${c.summary}`,
      };
    case 'unknown':
      return { kind: 'waiting', phase: 'converging', detail: c.problem ?? c.summary };
  }
}

/** The host's own words for a failed step, and the restore command when old code must not run on the data. */
export function failureMessage(c: ConvergenceStatus): string {
  const r = c.lastResult;
  const what = c.state === 'rolled-back' ? 'the host rolled back' : 'the host failed to converge';
  let msg = `${what}: ${r?.message ?? c.summary}`;
  if (c.problem && c.problem !== r?.message) msg += ` (${c.problem})`;
  if (r?.migrated) {
    msg += r.restoreCommand
      ? `; the failed version had migrated the database — restore the pre-upgrade backup: ${r.restoreCommand}`
      : '; the failed version had migrated the database and no pre-upgrade backup is recorded';
  }
  return msg;
}

/** The `status` line about convergence; null without a snapshot. */
export interface ConvergenceReport {
  state: ConvergenceState | 'not-reported';
  /** From a current snapshot (false: stale, or the instance is stopped). */
  current: boolean;
  /** desired ≠ running, as `dalston ref v1 → v2` items. */
  drift: string[];
  /** One line for people, without the state word. */
  text: string;
  next: string | null;
  restoreCommand: string | null;
}

/** Pure: the convergence field of a snapshot (absent: an agent from before convergence) → the status line. */
export function convergenceReport(
  c: ConvergenceStatus | undefined,
  agentVersion: string,
  current: boolean,
): ConvergenceReport {
  if (!c) {
    return {
      state: 'not-reported',
      current,
      drift: [],
      text: `agent ${agentVersion} predates convergence: this host does not follow config/host.json`,
      next: 'replace the instance once so it runs a release that converges (README: "Changing a running host")',
      restoreCommand: null,
    };
  }
  const drift = c.desired ? versionDiffs(c.desired, c.running) : [];
  const r = c.lastResult;
  const restoreCommand = r?.migrated ? (r.restoreCommand ?? null) : null;
  const driftText = drift.length > 0 ? `running ≠ desired: ${drift.join(', ')}` : '';
  const join = (...parts: string[]) => parts.filter((p) => p !== '').join('; ');
  const running = `release ${c.running.release}, dalston ${c.running.dalstonRef ?? '(no ref)'} (image ${c.running.imageTag ?? 'none'})`;
  switch (c.state) {
    case 'converged':
      return {
        state: c.state,
        current,
        drift,
        text: drift.length > 0 ? driftText : running,
        next: drift.length > 0 ? '`dalston-aws deploy` to watch the host converge' : null,
        restoreCommand,
      };
    case 'converging':
      return {
        state: c.state,
        current,
        drift,
        text: join(`${c.step ? `${c.step}: ` : ''}${c.summary}`, driftText),
        next: '`dalston-aws deploy` to watch it',
        restoreCommand,
      };
    case 'rolled-back':
    case 'failed':
      return {
        state: c.state,
        current,
        drift,
        text: join(r?.message ?? c.summary, driftText),
        next: restoreCommand
          ? `the failed version had migrated the database; restore the pre-upgrade backup: ${restoreCommand}`
          : c.state === 'rolled-back'
            ? 'fix the version in Terraform and `terraform apply` (or `dalston-aws deploy --ref … --image-tag …`)'
            : '`dalston-aws ssh -- journalctl -u dalston-sync` for the host’s log',
        restoreCommand,
      };
    case 'unknown':
      return {
        state: c.state,
        current,
        drift,
        text: join(c.problem ?? c.summary, driftText),
        next: c.desired === null ? '`terraform apply` publishes config/host.json' : null,
        restoreCommand,
      };
  }
}
