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

/** What the supervisor remembers about one service between reconciles. */
export interface ServiceMemory {
  /** Times of healing actions still inside the budget window. */
  actionTimes: number[];
  /** The next delay to apply after an action (doubles up to the max). */
  backoffMs: number;
  /** No action on this service before this time. */
  notBefore: number;
  /** Since when the service has been continuously OK (null = not OK). */
  okSince: number | null;
  circuitOpenedAt: number | null;
  agentRestarts: number;
  lastAction: { action: string; reason: string; at: number } | null;
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
  };
}

/** A delay with jitter so several services (or hosts) do not act in lockstep. */
export function jittered(ms: number, jitter: number, random: () => number): number {
  return Math.round(ms * (1 - jitter * random()));
}
