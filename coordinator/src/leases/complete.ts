/**
 * Completion is two steps so that no transaction is open while the segment
 * is downloaded and checked with ffprobe (PGlite runs one transaction at a
 * time; a real PostgreSQL would hold row locks across a network call).
 *
 * beginVerification(q, { taskId, token, policy }) → TaskRow
 *   leased → verifying under the caller's token, lease extended by the TTL so
 *   a crash mid-check expires it like any other lease. Also from verifying
 *   under the same token: a tab that sends `complete` again (its first answer
 *   was lost with a coordinator) gets its segment checked again; accepting it
 *   twice is impossible (acceptSegment matches only while verifying).
 *   LeaseLostError if the token is not current (a zombie, a replay).
 *
 * undoVerification(q, { taskId, token, policy }) → boolean
 *   verifying → leased under the same token, when the coordinator could not
 *   check the segment (storage or database trouble): the worker keeps its
 *   lease and its result, and sends `complete` again later.
 *
 * acceptSegment(q, { taskId, token, segment }) → { jobId }
 *   verifying → done: records the accepted segment's key, size and hash and
 *   closes the attempt; a replica it was waiting for is no longer awaited. An accepted segment is never replaced: the update
 *   only matches a task still verifying under this token. LeaseLostError
 *   otherwise.
 */
import { sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import { closeAttempts } from '../tasks/close-attempt.js';
import { type TaskRow, taskRowColumns } from '../tasks/task-columns.js';
import type { LeasePolicy } from './types.js';

export async function beginVerification(q: Queryable, opts: { taskId: string; token: string; policy: LeasePolicy }): Promise<TaskRow> {
  const [row] = await rows<TaskRow>(
    q,
    sql`
    UPDATE tasks
       SET state = 'verifying',
           lease_expires_at = now() + make_interval(secs => ${opts.policy.ttlSeconds}),
           progress = 1,
           updated_at = now()
     WHERE id = ${opts.taskId} AND lease_token = ${opts.token} AND state IN ('leased', 'verifying')
    RETURNING ${taskRowColumns()}`,
  );
  if (!row) throw new LeaseLostError(opts.taskId, 'the lease is not current (expired, reassigned, or already completed)');
  return row;
}

export async function undoVerification(q: Queryable, opts: { taskId: string; token: string; policy: LeasePolicy }): Promise<boolean> {
  const undone = await rows<{ id: string }>(
    q,
    sql`
    UPDATE tasks
       SET state = 'leased',
           lease_expires_at = now() + make_interval(secs => ${opts.policy.ttlSeconds}),
           updated_at = now()
     WHERE id = ${opts.taskId} AND lease_token = ${opts.token} AND state = 'verifying'
    RETURNING id`,
  );
  return undone.length > 0;
}

export async function acceptSegment(
  q: Queryable,
  opts: { taskId: string; token: string; segment: { key: string; size: number; sha256: string } },
): Promise<{ jobId: string; workerId: string }> {
  const [row] = await rows<{ job_id: string; worker_id: string }>(
    q,
    sql`
    WITH accepted AS (
      UPDATE tasks t
         SET state = 'done',
             segment_key = ${opts.segment.key},
             segment_size = ${opts.segment.size},
             segment_sha256 = ${opts.segment.sha256},
             replica_config = NULL,
             replica_deadline = NULL,
             lease_token = NULL,
             lease_owner = NULL,
             lease_expires_at = NULL,
             last_error = NULL,
             updated_at = now()
        FROM (SELECT id, lease_owner FROM tasks WHERE id = ${opts.taskId} FOR UPDATE) old
       WHERE t.id = old.id AND t.lease_token = ${opts.token} AND t.state = 'verifying'
      RETURNING t.id AS task_id, t.job_id, t.attempts, old.lease_owner AS worker_id
    ), closed AS (${closeAttempts('accepted', 'done', null)})
    SELECT job_id, worker_id FROM accepted`,
  );
  if (!row) throw new LeaseLostError(opts.taskId, 'the lease is not current; the segment was not accepted');
  return { jobId: row.job_id, workerId: row.worker_id };
}
