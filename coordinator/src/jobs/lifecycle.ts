/**
 * What a user can do to a job: cancel it, retry it, delete it.
 *
 * cancelJob: any unfinished job → canceled. Its open tasks are canceled in the
 *   same transaction (their attempts closed as 'canceled'), and the ids of
 *   the leases that were out are returned so the caller can tell those tabs
 *   to stop; tabs on other coordinators learn it at their next heartbeat.
 * retryJob: failed or canceled → runs again. A failed job keeps its accepted
 *   segments and gives its dead tasks a fresh MAX_ATTEMPTS; a canceled job
 *   starts over. Chunks were deleted when the job ended, so it re-splits
 *   (deterministic; tasks already done are kept by ON CONFLICT DO NOTHING).
 * deleteJob: an ended job and every object it has, outputs included.
 */
import { sql } from 'drizzle-orm';
import { HTTPException } from 'hono/http-exception';
import { TERMINAL_JOB_STATES } from '@tabgrid/shared';
import { rows, type Db } from '../db/client.js';
import type { Storage } from '../storage/storage.js';
import { storageKeys } from '../storage/keys.js';
import { getJob, transitionJob } from './repository.js';

const UNFINISHED = ['queued', 'probing', 'splitting', 'transcoding', 'merging'] as const;

export async function cancelJob(db: Db, id: string): Promise<{ revokedLeases: string[] }> {
  return db.transaction(async (tx) => {
    const job = await getJob(tx, id);
    if (!job) throw new HTTPException(404, { message: `no job ${id}` });
    if (!(await transitionJob(tx, id, UNFINISHED, 'canceled', { error: null }))) {
      throw new HTTPException(409, { message: `job ${id} has already ended (${job.state}); nothing to cancel` });
    }
    const canceled = await rows<{ id: string; was: string }>(
      tx,
      sql`
      WITH old AS (
        SELECT id, state AS was, attempts FROM tasks WHERE job_id = ${id} AND state IN ('queued', 'leased', 'verifying') FOR UPDATE
      ), changed AS (
        UPDATE tasks t SET state = 'canceled', lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
          FROM old WHERE t.id = old.id
        RETURNING t.id, old.was, old.attempts
      ), closed AS (
        UPDATE task_attempts a SET ended_at = now(), outcome = 'canceled', reason = 'the job was canceled'
          FROM changed WHERE a.task_id = changed.id AND a.attempt = changed.attempts AND a.ended_at IS NULL
      )
      SELECT id, was FROM changed`,
    );
    return { revokedLeases: canceled.filter((t) => t.was !== 'queued').map((t) => t.id) };
  });
}

export async function retryJob(db: Db, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const job = await getJob(tx, id);
    if (!job) throw new HTTPException(404, { message: `no job ${id}` });
    if (job.state !== 'failed' && job.state !== 'canceled') {
      throw new HTTPException(409, { message: `only a failed or canceled job can be retried; job ${id} is ${job.state}` });
    }
    if (job.state === 'canceled') {
      // Its segments were deleted with the cancel: start the chunk work over.
      await tx.execute(sql`DELETE FROM tasks WHERE job_id = ${id}`);
    } else {
      await tx.execute(sql`
        UPDATE tasks SET state = 'queued', retry_base = attempts, available_at = now(), last_error = NULL, updated_at = now()
         WHERE job_id = ${id} AND state IN ('dead', 'canceled')`);
    }
    const next = job.source && job.ladder ? 'splitting' : 'queued';
    await transitionJob(tx, id, [job.state], next, { error: null });
    await tx.execute(
      sql`UPDATE jobs SET needs_cleanup = false, step_attempts = 0, runner_id = NULL, runner_expires_at = NULL WHERE id = ${id}`,
    );
  });
}

export async function deleteJob(db: Db, storage: Storage, id: string): Promise<void> {
  const job = await getJob(db, id);
  if (!job) throw new HTTPException(404, { message: `no job ${id}` });
  if (!TERMINAL_JOB_STATES.includes(job.state)) {
    throw new HTTPException(409, { message: `job ${id} is ${job.state}; cancel it before deleting it` });
  }
  for (const o of job.outputs) await storage.remove(o.key);
  await storage.removePrefix(storageKeys.jobPrefix(id));
  await storage.removePrefix(storageKeys.deliverablesPrefix(id));
  await db.execute(sql`DELETE FROM jobs WHERE id = ${id}`);
}
