/**
 * The one exponential backoff: Docker event reconnects, S3 upload retries,
 * bootstrap retries, the agent's bring-up retry and the planner's per-service
 * healing delay all compute their delays here. It holds no state: callers keep
 * the attempt count or the current base delay (as plain numbers, so it can be
 * persisted) and pass their own `random` for the jitter.
 */
export interface BackoffOptions {
  initialMs: number;
  /** Upper bound of the base delay (before jitter); Infinity for none. */
  maxMs: number;
  /** Growth per attempt; 2 doubles. */
  factor?: number;
  /** 0..1: a delay d is drawn uniformly from [d·(1−jitter), d]; 0 draws nothing. */
  jitter?: number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;

  constructor(o: BackoffOptions) {
    this.initialMs = o.initialMs;
    this.maxMs = o.maxMs;
    this.factor = o.factor ?? 2;
    this.jitter = o.jitter ?? 0;
    if (!(this.initialMs >= 0) || !(this.maxMs >= this.initialMs) || !(this.factor >= 1)) {
      throw new RangeError(`invalid backoff: ${JSON.stringify(o)}`);
    }
    if (!(this.jitter >= 0 && this.jitter <= 1))
      throw new RangeError(`backoff jitter ${o.jitter} is not in 0..1`);
  }

  /** The base delay that follows `baseMs` (grown by the factor, capped). */
  grow(baseMs: number): number {
    return Math.min(baseMs * this.factor, this.maxMs);
  }

  /** The base delay before retry `attempt` (0 = the first retry), without jitter. */
  base(attempt: number): number {
    return Math.min(this.initialMs * this.factor ** Math.max(0, attempt), this.maxMs);
  }

  /** `baseMs` with jitter drawn from `random` (in [0, 1)), whole milliseconds. */
  jittered(baseMs: number, random: () => number): number {
    if (this.jitter === 0) return baseMs;
    return Math.round(baseMs * (1 - this.jitter * random()));
  }

  /** The delay to wait before retry `attempt` (0 = the first retry). */
  delay(attempt: number, random: () => number): number {
    return this.jittered(this.base(attempt), random);
  }
}
