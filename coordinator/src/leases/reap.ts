/**
 * reapExpiredLeases(q, { policy }) → EndedLease[]
 *   Returns every lease not renewed in time (leased or verifying, past
 *   lease_expires_at) to the queue, or marks the task dead once its failure
 *   budget is spent (failure-budget.ts), recording outcome 'expired' on the
 *   attempt. Safe to run from several coordinators at once (SKIP LOCKED).
 *
 * releaseLeases(q, { workerId, tokens, outcome, reason, policy, onlyIfDisconnected? }) → EndedLease[]
 *   The same for specific leases of one worker, e.g. after it disconnected
 *   and did not come back within the grace period. With onlyIfDisconnected,
 *   nothing happens if the worker has reconnected meanwhile (to any
 *   coordinator: workers.disconnected_at is NULL again), since it may have
 *   resumed those very leases.
 *
 * releaseAllLeases(q, { workerId, outcome, reason, policy }) → EndedLease[]
 *   Every lease (not verifying) of a worker that says it holds none, e.g. a
 *   tab that reloaded and lost its work.
 */
import { sql, type SQL } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { closeAttempts } from '../tasks/close-attempt.js';
import type { EndedLease } from './fail.js';
import { stateAfterFailure } from './failure-budget.js';
import type { AttemptOutcome, LeasePolicy } from './types.js';

function endLeases(q: Queryable, where: SQL, outcome: AttemptOutcome, reason: string, policy: LeasePolicy) {
  return rows<EndedLease>(
    q,
    sql`
    WITH old AS (
      SELECT id, lease_owner FROM tasks WHERE state IN ('leased', 'verifying') AND ${where}
      FOR UPDATE SKIP LOCKED
    ), ended AS (
      UPDATE tasks t
         SET state = ${stateAfterFailure('t', policy)},
             lease_token = NULL,
             lease_owner = NULL,
             lease_expires_at = NULL,
             progress = 0,
             last_error = ${reason},
             updated_at = now()
        FROM old
       WHERE t.id = old.id
      RETURNING t.id AS task_id, t.job_id, t.state, t.attempts, t.available_at, old.lease_owner AS worker_id
    ), closed AS (${closeAttempts('ended', outcome, reason)})
    SELECT * FROM ended`,
  );
}

export function reapExpiredLeases(q: Queryable, opts: { policy: LeasePolicy }): Promise<EndedLease[]> {
  return endLeases(q, sql`lease_expires_at < now()`, 'expired', `lease not renewed within ${opts.policy.ttlSeconds} s`, opts.policy);
}

export function releaseLeases(
  q: Queryable,
  opts: {
    workerId: string;
    tokens: readonly string[];
    outcome: AttemptOutcome;
    reason: string;
    policy: LeasePolicy;
    onlyIfDisconnected?: boolean;
  },
): Promise<EndedLease[]> {
  // Tokens are UUIDs we issued; anything else cannot match and must not reach the comma split below.
  const tokens = opts.tokens.filter((t) => /^[0-9a-f-]{36}$/i.test(t));
  if (tokens.length === 0) return Promise.resolve([]);
  const stillGone = opts.onlyIfDisconnected
    ? sql`AND EXISTS (SELECT 1 FROM workers w WHERE w.id = ${opts.workerId} AND w.disconnected_at IS NOT NULL)`
    : sql``;
  // Tokens are UUIDs; one comma-joined parameter keeps the statement identical on both drivers.
  return endLeases(
    q,
    sql`lease_owner = ${opts.workerId} AND lease_token = ANY(string_to_array(${tokens.join(',')}, ',')) ${stillGone}`,
    opts.outcome,
    opts.reason,
    opts.policy,
  );
}

export function releaseAllLeases(
  q: Queryable,
  opts: { workerId: string; outcome: AttemptOutcome; reason: string; policy: LeasePolicy },
): Promise<EndedLease[]> {
  return endLeases(q, sql`lease_owner = ${opts.workerId} AND state = 'leased'`, opts.outcome, opts.reason, opts.policy);
}
