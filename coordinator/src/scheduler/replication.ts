/**
 * Replication by reputation (BOINC's adaptive replication), decided per
 * result that passed the content check. Pure: the scheduler gathers the
 * facts (the task's pending results, the worker's trust, a coin toss) and
 * carries the decision out in one transaction (task-scheduler.ts).
 *
 * Only results from a deterministic encoder configuration
 * (workers/encoder-config.ts) can be compared: two such workers must decode
 * to the very same frames, so a replica agrees exactly when every decoded
 * frame's sha256 does (container bytes may differ, and are never compared).
 * Anything else is checked by content only.
 *
 *   - A new worker (fewer than TRUST_AFTER_CONFIRMED confirmed results) has
 *     each result confirmed by an independent replica: another worker, at
 *     another address, of the same configuration. A trusted one is sampled
 *     at REPLICA_SAMPLE_RATE (default 1 in 10): a trusted worker that turns
 *     to lying is caught after ~10 lies on average, and every lie had to
 *     pass the content check anyway.
 *   - Replicas agree: the task is done; both count towards trust.
 *   - They disagree: a tie-breaker replica; the pair that agrees wins and
 *     every result against it is outvoted, its worker caught.
 *   - No replicator connected (a single volunteer, everyone on one
 *     address), or none came in REPLICA_WAIT_SECONDS, or MAX_CANDIDATES
 *     results without two agreeing: settled on the content check alone, so
 *     a grid of one still finishes.
 */
import type { ResultRow } from '../tasks/task-results.js';

/** Results compared for one task before it is settled without a quorum (original, replica, tie-breaker, one more). */
export const MAX_CANDIDATES = 4;

export interface Submission {
  readonly workerId: string;
  readonly address: string | null;
  /** Deterministic encoder configuration, or null: content only. */
  readonly config: string | null;
  readonly framesSha256: string;
}

export type Decision =
  /** The task is done with this result, on the content check alone. */
  | { kind: 'accept'; why: string }
  /** The task is done with this result; `agreeing` confirmed it, `outvoted` disagreed with the pair and are caught. */
  | { kind: 'confirm'; agreeing: ResultRow[]; outvoted: ResultRow[] }
  /** Record this result as pending and requeue the task for a replica of `config`, if a replicator is connected; otherwise accept. */
  | { kind: 'want-replica'; config: string; why: string }
  /** Replicas disagree: record this result as pending and requeue the task for a tie-breaker. */
  | { kind: 'tie-break'; config: string; why: string }
  /** Too many results without two agreeing: the task is done with `chosen` (this result when null); the others are unused. */
  | { kind: 'no-quorum'; chosen: ResultRow | null; why: string };

/** Two results are independent when they come from different workers at different known addresses (or the same is allowed). */
export function independent(
  a: { workerId: string; address: string | null },
  b: { workerId: string; address: string | null },
  sameAddressOk: boolean,
): boolean {
  if (a.workerId === b.workerId) return false;
  if (sameAddressOk) return true;
  return a.address !== null && b.address !== null && a.address !== b.address;
}

export function decideReplication(input: {
  readonly result: Submission;
  /** The task's pending results (oldest first). */
  readonly candidates: readonly ResultRow[];
  /** The submitting worker's confirmed results. */
  readonly confirmedResults: number;
  readonly trustAfter: number;
  /** Whether this result of a trusted worker was drawn for a replica. */
  readonly sampled: boolean;
  readonly sameAddressOk: boolean;
}): Decision {
  const { result, candidates } = input;
  if (result.config === null) return { kind: 'accept', why: 'non-deterministic encoder: checked by content only' };
  const config = result.config;
  const peers = candidates.filter((c) => c.encoder_config === config);
  const agreeing = peers.filter(
    (c) =>
      c.frames_sha256 === result.framesSha256 && independent({ workerId: c.worker_id, address: c.address }, result, input.sameAddressOk),
  );
  if (agreeing.length > 0) {
    return { kind: 'confirm', agreeing, outvoted: peers.filter((c) => c.frames_sha256 !== result.framesSha256) };
  }
  if (candidates.length > 0) {
    if (candidates.length + 1 >= MAX_CANDIDATES) {
      // Both passed the content check; trust decides, then age (the oldest waited longest).
      const best = [...candidates].sort((a, b) => b.confirmed_results - a.confirmed_results || a.attempt - b.attempt)[0]!;
      return {
        kind: 'no-quorum',
        chosen: best.confirmed_results > input.confirmedResults ? best : null,
        why: `${candidates.length + 1} results and no two independent ones agree`,
      };
    }
    return { kind: 'tie-break', config, why: `disagrees with ${candidates.length} earlier result(s): a tie-breaker decides` };
  }
  if (input.confirmedResults < input.trustAfter) {
    return { kind: 'want-replica', config, why: `new worker (${input.confirmedResults} of ${input.trustAfter} results confirmed)` };
  }
  if (input.sampled) return { kind: 'want-replica', config, why: 'trusted worker, sampled for a replica' };
  return { kind: 'accept', why: 'trusted worker, not sampled' };
}

/** The first frame (1-based) whose decoded hash differs between two results, for the reason an outvoted worker is given. */
export function firstDifferingFrame(a: readonly string[], b: readonly string[]): number | null {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i + 1;
  return null;
}
