/**
 * The healing policy as pure functions over plain data: what one healing
 * action costs a service (commitAction), how a planned action that was not
 * taken is given back (refundAction), and when a failed bring-up is retried
 * (bringUpRetry). Memory goes in and comes out; times are epoch ms; nothing
 * here does IO or reads a clock, so every rule is tested without either, and
 * the memory could be stored as JSON and read back.
 */
import { Backoff } from '../../shared/time/backoff.ts';

/** The healing limits, in milliseconds (from `agent.restartBudget` and `agent.backoff`). */
export interface HealPolicy {
  budgetMax: number;
  budgetWindowMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  resetAfterHealthyMs: number;
  /** 0..1: delays are drawn from [d·(1-jitter), d]. */
  jitter: number;
}

export function policyFromConfig(agent: {
  restartBudget: { max: number; windowSeconds: number };
  backoff: { initialSeconds: number; maxSeconds: number; resetAfterHealthySeconds: number };
}): HealPolicy {
  return {
    budgetMax: agent.restartBudget.max,
    budgetWindowMs: agent.restartBudget.windowSeconds * 1000,
    backoffInitialMs: agent.backoff.initialSeconds * 1000,
    backoffMaxMs: agent.backoff.maxSeconds * 1000,
    resetAfterHealthyMs: agent.backoff.resetAfterHealthySeconds * 1000,
    jitter: 0.2,
  };
}

/** The delays between healing actions on one service, and between bring-up attempts. */
export function healBackoff(policy: HealPolicy): Backoff {
  return new Backoff({
    initialMs: policy.backoffInitialMs,
    maxMs: policy.backoffMaxMs,
    jitter: policy.jitter,
  });
}

export type ActionKind = 'restart' | 'recreate';

/** The part of a planner decision the policy needs. */
export interface ActionRef {
  kind: ActionKind;
  service: string;
  reason: string;
}

/** The fields an action charges; refundAction puts their earlier values back. */
export type ActionCharge = Pick<
  ServiceMemory,
  'actionTimes' | 'notBefore' | 'backoffMs' | 'agentRestarts' | 'lastAction'
>;

/** What the supervisor remembers about one service between reconciles (plain data). */
export interface ServiceMemory {
  /** Times of healing actions still inside the budget window. */
  actionTimes: number[];
  /** The next base delay to apply after an action (grows up to the max). */
  backoffMs: number;
  /** No action on this service before this time. */
  notBefore: number;
  /** Since when the service has been continuously OK (null = not OK). */
  okSince: number | null;
  circuitOpenedAt: number | null;
  agentRestarts: number;
  lastAction: { action: string; reason: string; at: number } | null;
  /**
   * The action committed and not yet settled, with the values it charged over.
   * An action whose outcome never arrived (the agent stopped mid-action) stays charged.
   */
  inFlight: { action: ActionKind; at: number; before: ActionCharge } | null;
}

export function freshMemory(policy: HealPolicy): ServiceMemory {
  return {
    actionTimes: [],
    backoffMs: policy.backoffInitialMs,
    notBefore: 0,
    okSince: null,
    circuitOpenedAt: null,
    agentRestarts: 0,
    lastAction: null,
    inFlight: null,
  };
}

/**
 * Charges one healing action: it counts against the restart budget, the next
 * action waits the (jittered) backoff, and the backoff grows.
 */
export function commitAction(
  memory: ServiceMemory,
  decision: ActionRef,
  now: number,
  policy: HealPolicy,
  random: () => number,
): ServiceMemory {
  const backoff = healBackoff(policy);
  const before: ActionCharge = {
    actionTimes: memory.actionTimes,
    notBefore: memory.notBefore,
    backoffMs: memory.backoffMs,
    agentRestarts: memory.agentRestarts,
    lastAction: memory.lastAction,
  };
  return {
    ...memory,
    actionTimes: [...memory.actionTimes, now],
    notBefore: now + backoff.jittered(memory.backoffMs, random),
    backoffMs: backoff.grow(memory.backoffMs),
    agentRestarts: memory.agentRestarts + 1,
    lastAction: { action: decision.kind, reason: decision.reason, at: now },
    inFlight: { action: decision.kind, at: now, before },
  };
}

/**
 * An action planned but not taken (Docker had moved on) costs nothing: the
 * charged fields get exactly their values from before commitAction. A memory
 * with no such action in flight is returned as it is.
 */
export function refundAction(memory: ServiceMemory, decision: ActionRef): ServiceMemory {
  const f = memory.inFlight;
  if (!f || f.action !== decision.kind) return memory;
  return { ...memory, ...f.before, inFlight: null };
}

/** The action ran (whatever its outcome): its charge stays. */
export function settleAction(memory: ServiceMemory, decision: ActionRef): ServiceMemory {
  const f = memory.inFlight;
  if (!f || f.action !== decision.kind) return memory;
  return { ...memory, inFlight: null };
}

/** Where the stack's `compose up` stands. */
export interface BringUpState {
  /** A `compose up` of the whole stack has worked. */
  done: boolean;
  /** The last attempt failed and is being retried. */
  failing: boolean;
  /** Failed attempts since the last success. */
  failures: number;
}

export const BRING_UP_NOT_STARTED: BringUpState = { done: false, failing: false, failures: 0 };

/**
 * The outcome of one `compose up` attempt: the new state, and when to try
 * again (null = do not). The n-th failure in a row waits the n-th backoff delay.
 */
export function bringUpRetry(
  state: BringUpState,
  outcome: 'up' | 'failed',
  now: number,
  backoff: Backoff,
  random: () => number,
): { state: BringUpState; retryAt: number | null } {
  if (outcome === 'up') return { state: { done: true, failing: false, failures: 0 }, retryAt: null };
  const failures = state.failures + 1;
  return {
    state: { done: state.done, failing: true, failures },
    retryAt: now + backoff.delay(failures - 1, random),
  };
}

/** The data guard's memory (plain data): how often it stopped services lately. */
export interface GuardState {
  /** Trips inside the budget window, this one included. */
  trips: number;
  lastTripAt: number | null;
}

export const GUARD_CALM: GuardState = { trips: 0, lastTripAt: null };

/** The guard stopped services (the data volume went missing): count it; trips older than the window are forgotten. */
export function guardTripped(state: GuardState, now: number, policy: HealPolicy): GuardState {
  const recent = state.lastTripAt !== null && now - state.lastTripAt < policy.budgetWindowMs;
  return { trips: recent ? state.trips + 1 : 1, lastTripAt: now };
}

/**
 * When the services the guard stopped may be brought up again, the volume
 * being back since `volumeOkAt`: at once after a first trip, after the n-th
 * backoff delay when it trips again and again, so a host whose binds keep
 * landing off the volume does not keep stopping and starting its database.
 */
export function guardResumeAt(
  state: GuardState,
  volumeOkAt: number,
  policy: HealPolicy,
  random: () => number,
): number {
  if (state.trips <= 1) return volumeOkAt;
  return volumeOkAt + healBackoff(policy).delay(state.trips - 2, random);
}
