/**
 * claimTasks(q, { workerId, limit, policy }) → TaskRow[]
 *
 * Leases up to `limit` queued tasks whose backoff has passed and whose job is
 * transcoding, oldest job first and chunk order within a job, unless the
 * worker is quarantined for failing again and again, in one
 * statement. `FOR UPDATE SKIP LOCKED` lets concurrent claimers (other
 * coordinators, other connections) pass over rows being claimed instead of
 * waiting or double-leasing. Each lease gets a fresh random token and the
 * attempt number goes up by one; the attempt is logged in task_attempts.
 * Returns the leased rows (empty when there is no work).
 */
import { sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { type TaskRow, taskRowColumns } from '../tasks/task-columns.js';
import { claimableBy } from '../tasks/task-results.js';
import type { LeasePolicy } from './types.js';

export async function claimTasks(q: Queryable, opts: { workerId: string; limit: number; policy: LeasePolicy }): Promise<TaskRow[]> {
  return rows<TaskRow>(
    q,
    sql`
    WITH picked AS MATERIALIZED (
      -- Materialised once: as an IN (...) subquery the planner may rescan it
      -- and lease more than LIMIT rows (seen: LIMIT 2 leased 3).
      SELECT c.id
        FROM tasks c
        JOIN jobs j ON j.id = c.job_id
       WHERE c.state = 'queued'
         AND c.available_at <= now()
         AND j.state = 'transcoding'
         AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = ${opts.workerId} AND w.quarantined_until > now())
         AND ${claimableBy('c', opts.workerId, opts.policy.sameAddressReplicas ?? false)}
       ORDER BY j.created_at, c.chunk_index, c.rendition
       LIMIT ${opts.limit}
         FOR UPDATE OF c SKIP LOCKED
    ), claimed AS (
      UPDATE tasks t
         SET state = 'leased',
             attempts = t.attempts + 1,
             lease_token = gen_random_uuid()::text,
             lease_owner = ${opts.workerId},
             lease_expires_at = now() + make_interval(secs => ${opts.policy.ttlSeconds}),
             progress = 0,
             updated_at = now()
        FROM picked
       WHERE t.id = picked.id AND t.state = 'queued'
      RETURNING ${taskRowColumns('t')}
    ), logged AS (
      INSERT INTO task_attempts (task_id, attempt, worker_id)
      SELECT id, attempts, ${opts.workerId} FROM claimed
    )
    SELECT * FROM claimed`,
  );
}
