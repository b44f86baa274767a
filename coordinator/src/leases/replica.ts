/**
 * requeueForReplica(q, { taskId, token, config, waitSeconds, reason }) → EndedLease
 *
 * verifying → queued under the caller's token: the segment passed the
 * content check and was recorded as a pending result (tasks/task-results.ts);
 * the task now waits for an independent replica from a worker of encoder
 * configuration `config` (the claim lets no other take it:
 * tasks/task-results.ts claimableBy). The attempt is closed as `submitted`
 * and does not use up the task's MAX_ATTEMPTS (retry_base + 1); no backoff.
 * After `waitSeconds` without a replica the task is settled on the content
 * check alone (scheduler/replication.ts). LeaseLostError if the lease is not
 * current.
 */
import { sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import { closeAttempts } from '../tasks/close-attempt.js';
import type { EndedLease } from './fail.js';

export async function requeueForReplica(
  q: Queryable,
  opts: { taskId: string; token: string; config: string; waitSeconds: number; reason: string },
): Promise<EndedLease> {
  const [row] = await rows<EndedLease>(
    q,
    sql`
    WITH ended AS (
      UPDATE tasks t
         SET state = 'queued',
             retry_base = t.retry_base + 1,
             available_at = now(),
             replica_config = ${opts.config},
             replica_deadline = now() + make_interval(secs => ${opts.waitSeconds}),
             lease_token = NULL,
             lease_owner = NULL,
             lease_expires_at = NULL,
             progress = 0,
             updated_at = now()
        FROM (SELECT id, lease_owner FROM tasks WHERE id = ${opts.taskId} FOR UPDATE) old
       WHERE t.id = old.id AND t.lease_token = ${opts.token} AND t.state = 'verifying'
      RETURNING t.id AS task_id, t.job_id, t.state, t.attempts, t.available_at, old.lease_owner AS worker_id
    ), closed AS (${closeAttempts('ended', 'submitted', opts.reason)})
    SELECT * FROM ended`,
  );
  if (!row) throw new LeaseLostError(opts.taskId, 'the lease is not current; the result was not recorded');
  return row;
}
