/**
 * Server-side steps (probe, split, merge) are leased like tasks, so that with
 * several coordinators on one database exactly one runs a job's step, and a
 * coordinator that dies mid-step (kill -9) hands it on when its lease lapses.
 *
 * claimJobStep(q, { runnerId, ttlSeconds }) → job id | undefined
 *   the oldest job that needs server work (a step, or cleanup after it
 *   ended) and is not held by a live runner. Adds one to its
 *   step_attempts, which so counts the step's starts: a step that finishes
 *   resets it (releaseJobStep with resetAttempts), a thrown error leaves it.
 *   More starts than MAX_STEP_ATTEMPTS means earlier ones ended with the
 *   coordinator (kill -9, out of memory): the runner fails the job then
 *   (pipeline/runner.ts) rather than run the step again.
 * renewJobStep(q, { jobId, runnerId, ttlSeconds }) → boolean (false: lost)
 * releaseJobStep(q, { jobId, runnerId, retryInSeconds }) → void
 *   0 frees it at once; >0 keeps it unclaimable until then (backoff after a retryable error).
 */
import { sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { constantList } from '../db/sql-literals.js';
import { SERVER_STEP_STATES } from '../jobs/job-states.js';

export async function claimJobStep(q: Queryable, opts: { runnerId: string; ttlSeconds: number }): Promise<string | undefined> {
  const [row] = await rows<{ id: string }>(
    q,
    sql`
    WITH picked AS MATERIALIZED (
      SELECT id FROM jobs
       WHERE (state IN (${constantList(SERVER_STEP_STATES)}) OR needs_cleanup)
         AND (runner_expires_at IS NULL OR runner_expires_at < now())
       ORDER BY created_at
       LIMIT 1
         FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs j
       SET runner_id = ${opts.runnerId},
           runner_expires_at = now() + make_interval(secs => ${opts.ttlSeconds}),
           step_attempts = j.step_attempts + 1
      FROM picked
     WHERE j.id = picked.id
    RETURNING j.id`,
  );
  return row?.id;
}

export async function renewJobStep(q: Queryable, opts: { jobId: string; runnerId: string; ttlSeconds: number }): Promise<boolean> {
  const renewed = await rows<{ id: string }>(
    q,
    sql`UPDATE jobs SET runner_expires_at = now() + make_interval(secs => ${opts.ttlSeconds})
         WHERE id = ${opts.jobId} AND runner_id = ${opts.runnerId} RETURNING id`,
  );
  return renewed.length > 0;
}

export async function releaseJobStep(
  q: Queryable,
  opts: { jobId: string; runnerId: string; retryInSeconds: number; resetAttempts: boolean },
): Promise<void> {
  await q.execute(
    sql`UPDATE jobs
           SET runner_id = NULL,
               runner_expires_at = CASE WHEN ${opts.retryInSeconds} > 0 THEN now() + make_interval(secs => ${opts.retryInSeconds}) ELSE NULL END,
               step_attempts = CASE WHEN ${opts.resetAttempts} THEN 0 ELSE step_attempts END
         WHERE id = ${opts.jobId} AND runner_id = ${opts.runnerId}`,
  );
}

/** Frees every step lease held by `runnerId` (a restarted coordinator reclaiming its own). Returns how many. */
export async function releaseStepsOf(q: Queryable, runnerId: string): Promise<number> {
  const freed = await rows<{ id: string }>(
    q,
    sql`UPDATE jobs SET runner_id = NULL, runner_expires_at = NULL WHERE runner_id = ${runnerId} RETURNING id`,
  );
  return freed.length;
}
