/**
 * Exponential backoff: `initialMs × 2^attempt`, capped at `maxMs`, with
 * optional jitter so that many clients hit by the same outage do not all
 * come back at the same instant. Pure: randomness comes in as a function.
 */

export type Jitter =
  /** Exactly the exponential delay. */
  | 'none'
  /** "Equal jitter": half the delay fixed, half random, in [delay/2, delay]; retries spread out but never bunch at 0. */
  | 'equal'
  /** Up to this fraction added, in [delay, delay × (1 + addUpTo)], and the cap still holds. */
  | { readonly addUpTo: number };

export interface BackoffPolicy {
  /** The delay before the first retry (attempt 0), before jitter. */
  readonly initialMs: number;
  /** No delay is longer, jitter included. */
  readonly maxMs: number;
  readonly jitter: Jitter;
}

/** Milliseconds to wait before retry number `attempt` (0 for the first; negative counts as 0), rounded to whole ms. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt));
  const { jitter } = policy;
  const jittered =
    jitter === 'none' ? base : jitter === 'equal' ? base / 2 + random() * (base / 2) : base * (1 + jitter.addUpTo * random());
  return Math.round(Math.min(policy.maxMs, jittered));
}
