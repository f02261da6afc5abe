import type { ContainerInfo } from '../../shared/engine/docker/types.ts';
import type { DataVolumeCheck } from './data-binds.ts';
import { type DependencyGraph, dependencyOrder, stopOrder } from './graph.ts';
import { commitAction, freshMemory, type HealPolicy, type ServiceMemory } from './policy.ts';

/**
 * The supervisor's decisions as a pure function: observed containers, the
 * configured services, the dependency graph, per-service memory and the time
 * in; actions, the new memory (each action already charged by commitAction,
 * policy.ts) and notes out. No IO, so every rule is tested with plain numbers.
 */

/** How one service looks right now. */
export type Condition = 'ok' | 'starting' | 'unhealthy' | 'restarting' | 'down' | 'missing';

export type Decision =
  | {
      kind: 'restart';
      service: string;
      containerId: string;
      containerName: string;
      stopTimeoutSeconds: number | null;
      reason: string;
    }
  | { kind: 'recreate'; service: string; reason: string }
  /**
   * The data guard: the service holds a bind under dataDir that is not on the data volume.
   * onVolume: the bind is on the volume's filesystem, no longer mounted at dataDir (see DataOffender).
   */
  | { kind: 'stop'; service: string; reason: string; onVolume: boolean };

export type NoteKind =
  | 'circuit-opened'
  | 'circuit-closed'
  | 'blocked-by-dependency'
  | 'backing-off'
  | 'data-volume-missing';
export interface Note {
  service: string;
  kind: NoteKind;
  message: string;
}

export interface PlanInput {
  now: number;
  /** The services this host runs (config list, or every observed service when it is empty). */
  services: readonly string[];
  containers: readonly ContainerInfo[];
  graph: DependencyGraph;
  memory: ReadonlyMap<string, ServiceMemory>;
  /** Services with an action queued or running: never act twice. */
  busy: ReadonlySet<string>;
  policy: HealPolicy;
  random: () => number;
  /** False until the first `compose up` has run: bring-up, not healing, creates the stack. */
  allowRecreate?: boolean;
  /** The data guard's last check (data-binds.ts); absent or null when the guard is off. */
  dataVolume?: DataVolumeCheck | null;
}

export interface Plan {
  decisions: Decision[];
  memory: Map<string, ServiceMemory>;
  notes: Note[];
  conditions: Map<string, Condition>;
  /** Earliest time a waiting service may be acted on (backoff or circuit window), for a timer. */
  wakeAt: number | null;
}

const SEVERITY: Record<Condition, number> = {
  ok: 0,
  starting: 1,
  unhealthy: 2,
  restarting: 3,
  down: 4,
  missing: 5,
};

export function containerCondition(c: ContainerInfo): Condition {
  if (c.state === 'restarting') return 'restarting';
  if (c.state !== 'running') return 'down';
  if (c.health === 'unhealthy') return 'unhealthy';
  if (c.health === 'starting') return 'starting';
  return 'ok';
}

/** The worst condition among a service's containers (compose `scale` may give several). */
export function serviceCondition(containers: readonly ContainerInfo[]): Condition {
  let worst: Condition = 'missing';
  for (const c of containers) {
    const cond = containerCondition(c);
    if (worst === 'missing' || SEVERITY[cond] > SEVERITY[worst]) worst = cond;
  }
  return worst;
}

/** Every service `service` depends on, directly or through others (a chain is only as up as its root). */
export function ancestors(service: string, graph: PlanInput['graph']): string[] {
  const out: string[] = [];
  const seen = new Set<string>([service]);
  const stack = [...(graph.get(service) ?? [])];
  while (stack.length > 0) {
    const d = stack.shift()!;
    if (seen.has(d)) continue;
    seen.add(d);
    out.push(d);
    stack.push(...(graph.get(d) ?? []));
  }
  return out;
}

export function plan(input: PlanInput): Plan {
  const { now, policy } = input;
  const byService = new Map<string, ContainerInfo[]>();
  for (const c of input.containers) {
    const list = byService.get(c.service) ?? [];
    list.push(c);
    byService.set(c.service, list);
  }
  const conditions = new Map<string, Condition>();
  for (const s of new Set([...input.services, ...byService.keys()])) {
    conditions.set(s, serviceCondition(byService.get(s) ?? []));
  }
  const ours = new Set(input.services);
  const memory = new Map<string, ServiceMemory>();
  const decisions: Decision[] = [];
  const notes: Note[] = [];
  let wakeAt: number | null = null;
  const wake = (t: number) => {
    wakeAt = wakeAt === null ? t : Math.min(wakeAt, t);
  };
  const dataMissing = input.dataVolume ? !input.dataVolume.ok : false;

  for (const service of dependencyOrder(input.services, input.graph)) {
    const prev = input.memory.get(service) ?? freshMemory(policy);
    const m: ServiceMemory = {
      ...prev,
      actionTimes: prev.actionTimes.filter((t) => now - t < policy.budgetWindowMs),
      // An action is in flight only while it is queued or running; one that never reported back stays charged.
      inFlight: input.busy.has(service) ? (prev.inFlight ?? null) : null,
    };
    memory.set(service, m);
    const cond = conditions.get(service) ?? 'missing';

    // Healthy time: resets the backoff after long enough, closes an open circuit at once.
    if (cond === 'ok') {
      m.okSince ??= now;
      if (now - m.okSince >= policy.resetAfterHealthyMs) m.backoffMs = policy.backoffInitialMs;
      if (m.circuitOpenedAt !== null) {
        m.circuitOpenedAt = null;
        notes.push({
          service,
          kind: 'circuit-closed',
          message: `${service} turned healthy on its own; circuit closed`,
        });
      }
      continue;
    }
    m.okSince = null;
    // No healing while the data volume is missing: a restart or `compose up` would bind the root disk.
    if (dataMissing) continue;

    if (m.circuitOpenedAt !== null) {
      const closesAt = m.circuitOpenedAt + policy.budgetWindowMs;
      if (now < closesAt) {
        wake(closesAt);
        continue;
      }
      m.circuitOpenedAt = null;
      notes.push({
        service,
        kind: 'circuit-closed',
        message: `${service}: restart-budget window of ${policy.budgetWindowMs / 1000} s passed; circuit closed`,
      });
    }

    // Exits, crash loops and restarts belong to Docker's restart policy; starting is not yet a verdict.
    if (cond !== 'unhealthy' && cond !== 'missing') continue;
    if (cond === 'missing' && input.allowRecreate === false) continue;
    if (input.busy.has(service)) continue;

    const blockers = ancestors(service, input.graph).filter((d) => {
      if (!ours.has(d) && !byService.has(d)) return false; // not run on this host
      return (conditions.get(d) ?? 'missing') !== 'ok' || input.busy.has(d);
    });
    if (blockers.length > 0) {
      const list = blockers.map((d) => `${d} (${input.busy.has(d) ? 'being healed' : conditions.get(d)})`);
      notes.push({
        service,
        kind: 'blocked-by-dependency',
        message: `${service} is ${cond} but waits for its dependencies: ${list.join(', ')}`,
      });
      continue;
    }

    if (now < m.notBefore) {
      notes.push({
        service,
        kind: 'backing-off',
        message: `${service} is ${cond}; next action in ${Math.ceil((m.notBefore - now) / 1000)} s (backoff)`,
      });
      wake(m.notBefore);
      continue;
    }

    if (m.actionTimes.length >= policy.budgetMax) {
      m.circuitOpenedAt = now;
      notes.push({
        service,
        kind: 'circuit-opened',
        message:
          `${service} is still ${cond} after ${m.actionTimes.length} actions in ` +
          `${policy.budgetWindowMs / 1000} s; circuit open, no more actions until it turns healthy ` +
          `or ${policy.budgetWindowMs / 1000} s pass`,
      });
      wake(now + policy.budgetWindowMs);
      continue;
    }

    let decision: Decision;
    if (cond === 'missing') {
      decision = { kind: 'recreate', service, reason: 'no container for a configured service' };
    } else {
      const target = (byService.get(service) ?? []).find((c) => containerCondition(c) === 'unhealthy')!;
      decision = {
        kind: 'restart',
        service,
        containerId: target.id,
        containerName: target.name,
        stopTimeoutSeconds: target.stopTimeoutSeconds,
        reason: 'running but unhealthy',
      };
    }
    decisions.push(decision);
    memory.set(service, commitAction(m, decision, now, policy, input.random));
  }
  if (dataMissing) decisions.push(...dataGuardStops(input, byService, notes));
  return { decisions, memory, notes, conditions, wakeAt };
}

/**
 * The data guard's decisions: stop every service that still holds a bind off
 * the data volume, dependents first (the queue keeps related actions in this
 * order). A stop is not healing: it costs no budget, and nothing brings the
 * service back until the volume is (the supervisor's resume), or, when its
 * writes went to another disk, until the operator has looked.
 */
function dataGuardStops(
  input: PlanInput,
  byService: ReadonlyMap<string, ContainerInfo[]>,
  notes: Note[],
): Decision[] {
  const check = input.dataVolume!;
  const holding = [...check.offenders.keys()].filter(
    (s) =>
      !input.busy.has(s) &&
      (byService.get(s) ?? []).some((c) => ['running', 'restarting', 'paused'].includes(c.state)),
  );
  const out: Decision[] = [];
  for (const service of stopOrder(holding, input.graph).flat()) {
    const { why, onVolume } = check.offenders.get(service)!;
    notes.push({ service, kind: 'data-volume-missing', message: `${service}: ${check.reason ?? why}` });
    out.push({ kind: 'stop', service, reason: why, onVolume });
  }
  return out;
}
