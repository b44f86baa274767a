/**
 * failLease(q, { taskId, token, outcome, reason, policy, workerId? }) → { jobId, state, attempts }
 *
 * Ends the caller's attempt (the worker failed, or its segment was rejected):
 * the task goes back to the queue after a backoff, or is dead once its
 * failure budget is spent (failure-budget.ts: MAX_ATTEMPTS distinct
 * addresses). Only under the current token, and with `workerId` only for the
 * lease's owner; LeaseLostError otherwise, so a stale, duplicate or foreign
 * failure changes nothing.
 */
import { sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import { closeAttempts } from '../tasks/close-attempt.js';
import { stateAfterFailure } from './failure-budget.js';
import { TASK_RETRY_BACKOFF } from './policy.js';
import type { AttemptOutcome, LeasePolicy } from './types.js';

export interface EndedLease {
  task_id: string;
  job_id: string;
  state: 'queued' | 'dead';
  attempts: number;
  /** When a requeued task may be leased again (after the retry backoff). */
  available_at: Date | string;
  worker_id: string | null;
}

export async function failLease(
  q: Queryable,
  opts: { taskId: string; token: string; outcome: AttemptOutcome; reason: string; policy: LeasePolicy; workerId?: string },
): Promise<EndedLease> {
  const ownedBy = opts.workerId === undefined ? sql`` : sql`AND t.lease_owner = ${opts.workerId}`;
  const [row] = await rows<EndedLease>(
    q,
    sql`
    WITH ended AS (
      UPDATE tasks t
         SET state = ${stateAfterFailure('t', opts.policy)},
             -- Backoff counts the attempts since the last retry of the job, not all of them.
             available_at = now() + make_interval(secs => least(${TASK_RETRY_BACKOFF.maxMs / 1000}::int,
                              ${TASK_RETRY_BACKOFF.initialMs / 1000}::int * power(2, t.attempts - t.retry_base))::int),
             lease_token = NULL,
             lease_owner = NULL,
             lease_expires_at = NULL,
             progress = 0,
             last_error = ${opts.reason},
             updated_at = now()
        FROM (SELECT id, lease_owner FROM tasks WHERE id = ${opts.taskId} FOR UPDATE) old
       WHERE t.id = old.id AND t.lease_token = ${opts.token} AND t.state IN ('leased', 'verifying') ${ownedBy}
      RETURNING t.id AS task_id, t.job_id, t.state, t.attempts, t.available_at, old.lease_owner AS worker_id
    ), closed AS (${closeAttempts('ended', opts.outcome, opts.reason)})
    SELECT * FROM ended`,
  );
  if (!row) throw new LeaseLostError(opts.taskId);
  return row;
}
