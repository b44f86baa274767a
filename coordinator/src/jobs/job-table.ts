/**
 * The `jobs` table: every statement that writes it lives here (the step
 * leases on its runner columns live with the other leases, in
 * leases/step-lease.ts). State changes go through `transitionJob`, which
 * checks the move against the state machine (job-states.ts) and sets the
 * new state only if the job is still in one of the states the caller
 * expects, so a late or duplicate caller changes nothing.
 */
import { and, desc, eq, inArray, type SQL, sql } from 'drizzle-orm';
import type { JobEncoderSetting, JobState, RenditionName } from '@tabgrid/shared';
import type { Queryable } from '../db/client.js';
import { jobs, type StoredRenditionQuality } from '../db/schema.js';
import { assertJobTransition, isTerminalJobState } from './job-states.js';

export type JobRow = typeof jobs.$inferSelect;

/** Fields a transition may set along with the state. */
export type JobTransitionFields = Partial<Pick<JobRow, 'error' | 'source' | 'ladder' | 'totalChunks' | 'outputs' | 'deliverables'>>;

/** insertJob(q, job) → the new row, state queued. */
export async function insertJob(
  q: Queryable,
  job: { id: string; name: string; renditions: RenditionName[]; encoder?: JobEncoderSetting; sourceKey: string; sourceSize: number },
): Promise<JobRow> {
  const [row] = await q
    .insert(jobs)
    .values({
      id: job.id,
      name: job.name,
      requestedRenditions: job.renditions,
      encoder: job.encoder ?? 'x264',
      sourceKey: job.sourceKey,
      sourceSize: job.sourceSize,
    })
    .returning();
  return row!;
}

/** getJob(q, id) → the row, or undefined. */
export async function getJob(q: Queryable, id: string): Promise<JobRow | undefined> {
  const [row] = await q.select().from(jobs).where(eq(jobs.id, id));
  return row;
}

/** listJobs(q, limit) → the newest `limit` jobs, newest first. */
export async function listJobs(q: Queryable, limit = 200): Promise<JobRow[]> {
  return q.select().from(jobs).orderBy(desc(jobs.createdAt)).limit(limit);
}

/**
 * transitionJob(q, id, from, to, fields, onlyIf) → true if it moved, false
 * if the job was in none of `from` (or `onlyIf` did not hold).
 *
 * Throws IllegalTransitionError when the state machine has no edge from one
 * of `from` to `to`: that is a bug in the caller, not a race. A job that
 * ends (done, failed, canceled) is marked for cleanup, which the pipeline
 * runner then does as a step of its own.
 */
export async function transitionJob(
  q: Queryable,
  id: string,
  from: readonly JobState[],
  to: JobState,
  fields: JobTransitionFields = {},
  onlyIf?: SQL,
): Promise<boolean> {
  assertJobTransition(from, to);
  const changed = await q
    .update(jobs)
    .set({ ...fields, state: to, updatedAt: new Date(), ...(isTerminalJobState(to) ? { needsCleanup: true } : {}) })
    .where(and(eq(jobs.id, id), inArray(jobs.state, [...from]), onlyIf))
    .returning({ id: jobs.id });
  return changed.length > 0;
}

/**
 * setJobQuality(q, id, quality) → void. Only while the job is done;
 * updated_at moves too, so open dashboards get the figures pushed.
 */
export async function setJobQuality(q: Queryable, id: string, quality: StoredRenditionQuality[]): Promise<void> {
  await q
    .update(jobs)
    .set({ quality, updatedAt: new Date() })
    .where(and(eq(jobs.id, id), eq(jobs.state, 'done')));
}

/**
 * finishCleanup(q, id, state) → void. Clears needs_cleanup, only if the job
 * is still in the state that was cleaned for (a retry may have restarted it
 * meanwhile, and its new run needs its own cleanup).
 */
export async function finishCleanup(q: Queryable, id: string, state: JobState): Promise<void> {
  await q
    .update(jobs)
    .set({ needsCleanup: false })
    .where(and(eq(jobs.id, id), eq(jobs.state, state)));
}

/** resetStepsForRetry(q, id) → void. A retried job starts its server steps afresh: no cleanup owed, no step attempts, no runner. */
export async function resetStepsForRetry(q: Queryable, id: string): Promise<void> {
  await q.execute(
    sql`UPDATE jobs SET needs_cleanup = false, step_attempts = 0, runner_id = NULL, runner_expires_at = NULL WHERE id = ${id}`,
  );
}

/** deleteJobRow(q, id) → void. Its tasks and attempts go with it (ON DELETE CASCADE). */
export async function deleteJobRow(q: Queryable, id: string): Promise<void> {
  await q.execute(sql`DELETE FROM jobs WHERE id = ${id}`);
}
