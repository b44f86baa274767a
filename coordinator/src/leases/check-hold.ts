/**
 * The coordinator's hold on a segment it is checking. A completed task waits
 * for one of the coordinator's checker slots and then for the check itself;
 * neither is the tab's doing, so neither may expire its lease or count
 * against it.
 *
 * holdVerification(q, { taskId, token, policy }) → boolean
 *   Extends a verifying lease by the TTL under the tab's token; the
 *   coordinator that holds the check calls it every third of the TTL until
 *   it decides. false when the lease is gone (canceled, or reaped after the
 *   coordinator stalled): the decision will find it lost.
 *
 * expireStalledChecks(q, { policy }) → EndedLease[]
 *   verifying → queued (or dead at MAX_ATTEMPTS) for leases whose hold ran
 *   out: the coordinator checking them died or lost the database. Outcome
 *   `expired`, with a reason saying whose fault it was not; the reaper calls
 *   this before reapExpiredLeases and blames nobody for these. SKIP LOCKED,
 *   like every reap.
 */
import { sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { closeAttempts } from '../tasks/close-attempt.js';
import type { EndedLease } from './fail.js';
import type { LeasePolicy } from './types.js';

export const STALLED_CHECK_REASON = 'the coordinator checking this segment stopped before deciding; the worker is not blamed';

export async function holdVerification(q: Queryable, opts: { taskId: string; token: string; policy: LeasePolicy }): Promise<boolean> {
  const held = await rows<{ id: string }>(
    q,
    sql`
    UPDATE tasks
       SET lease_expires_at = now() + make_interval(secs => ${opts.policy.ttlSeconds}),
           updated_at = now()
     WHERE id = ${opts.taskId} AND lease_token = ${opts.token} AND state = 'verifying'
    RETURNING id`,
  );
  return held.length > 0;
}

export async function expireStalledChecks(q: Queryable, opts: { policy: LeasePolicy }): Promise<EndedLease[]> {
  return rows<EndedLease>(
    q,
    sql`
    WITH old AS (
      SELECT id, lease_owner FROM tasks WHERE state = 'verifying' AND lease_expires_at < now()
      FOR UPDATE SKIP LOCKED
    ), ended AS (
      UPDATE tasks t
         SET state = CASE WHEN t.attempts - t.retry_base >= ${opts.policy.maxAttempts} THEN 'dead' ELSE 'queued' END,
             lease_token = NULL,
             lease_owner = NULL,
             lease_expires_at = NULL,
             progress = 0,
             last_error = ${STALLED_CHECK_REASON},
             updated_at = now()
        FROM old
       WHERE t.id = old.id
      RETURNING t.id AS task_id, t.job_id, t.state, t.attempts, t.available_at, old.lease_owner AS worker_id
    ), closed AS (${closeAttempts('ended', 'expired', STALLED_CHECK_REASON)})
    SELECT * FROM ended`,
  );
}
