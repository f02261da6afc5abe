/**
 * The convergence planner: pure. From what the host runs, what the desired
 * state asks for, which host settings it would change, and what sync already
 * tried for this version of the desired state, it decides the one next step.
 *
 * - Steps go in the order of CHANGE_KINDS: release → host-settings → dalston.
 *   A newer dalston-host knows best how to apply the rest, and host settings
 *   (a compose project, env files) shape how Dalston is changed.
 * - One step at a time: the runner applies it, records it, and asks again.
 * - A step that rolled back or failed for this version of the desired state is
 *   never tried again, and nothing after it runs, until the desired state
 *   changes (a new object version): retrying a broken version would only take
 *   the stack down again.
 * - A step that was applied but still differs (a release whose bundle reports
 *   another version) is held too, instead of looping.
 */
import {
  CHANGE_KINDS,
  type ChangeKind,
  type ConvergenceResult,
} from '../shared/desired/convergence-status.ts';
import type { HostVersions } from '../shared/desired/desired-state.ts';

/** One step sync ran, and for which version of the desired state. */
export interface Attempt {
  kind: ChangeKind;
  /** The desired state's object version (VersionId, else ETag) the step worked towards. */
  desiredVersion: string;
  outcome: ConvergenceResult['outcome'];
  message: string;
}

export interface PlanInput {
  running: HostVersions;
  desired: HostVersions;
  desiredVersion: string;
  /** host.json keys the desired state would change, Dalston's own fields (ref, image tag, services) excepted. */
  hostSettingsChanged: readonly string[];
  /** Earlier attempts, oldest first (any versions: the planner looks only at this one's). */
  history: readonly Attempt[];
}

export type Plan =
  | { kind: 'converged' }
  | { kind: 'apply'; step: ChangeKind; detail: string }
  /** Not retried until the desired state changes: `attempt` is the step that did not succeed. */
  | { kind: 'held'; step: ChangeKind; attempt: Attempt; detail: string };

/** What differs for each kind of change, in words; empty when that kind is already as desired. */
export function differences(
  input: Omit<PlanInput, 'history' | 'desiredVersion'>,
): Record<ChangeKind, string> {
  const { running: r, desired: d } = input;
  const v = (x: string | null) => x ?? '(none)';
  const dalston: string[] = [];
  if (r.dalstonRef !== d.dalstonRef) dalston.push(`ref ${v(r.dalstonRef)} → ${v(d.dalstonRef)}`);
  if (r.imageTag !== d.imageTag) dalston.push(`image ${v(r.imageTag)} → ${v(d.imageTag)}`);
  const rs = [...r.services].sort().join(',');
  const ds = [...d.services].sort().join(',');
  if (rs !== ds) dalston.push(`services ${rs || 'all'} → ${ds || 'all'}`);
  return {
    release: r.release === d.release ? '' : `release ${r.release} → ${d.release}`,
    'host-settings':
      input.hostSettingsChanged.length === 0 ? '' : `host settings: ${input.hostSettingsChanged.join(', ')}`,
    dalston: dalston.length === 0 ? '' : `dalston ${dalston.join(', ')}`,
  };
}

export function planNext(input: PlanInput): Plan {
  const diff = differences(input);
  const here = input.history.filter((a) => a.desiredVersion === input.desiredVersion);
  const lastOf = (kind: ChangeKind) => here.filter((a) => a.kind === kind).at(-1);
  for (const kind of CHANGE_KINDS) {
    const last = lastOf(kind);
    // A failure holds even when the kind no longer differs: a Dalston change whose database had
    // migrated stays on the new version (nothing differs) but must be reported, not called converged.
    if (last && last.outcome !== 'applied') {
      return { kind: 'held', step: kind, attempt: last, detail: heldDetail(last) };
    }
    if (!diff[kind]) continue;
    if (last) {
      return {
        kind: 'held',
        step: kind,
        attempt: last,
        detail: `${kind} was applied for this desired state but still differs (${diff[kind]}); not trying again until the desired state changes`,
      };
    }
    return { kind: 'apply', step: kind, detail: diff[kind] };
  }
  return { kind: 'converged' };
}

function heldDetail(a: Attempt): string {
  const what = a.outcome === 'rolled-back' ? 'rolled back' : 'failed';
  return `${a.kind} ${what} for this desired state (${a.message}); not retried until the desired state changes`;
}

/** History worth keeping: this desired state's attempts only (older ones no longer decide anything). */
export function keepHistory(history: readonly Attempt[], desiredVersion: string, max = 20): Attempt[] {
  return history.filter((a) => a.desiredVersion === desiredVersion).slice(-max);
}
