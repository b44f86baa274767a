/**
 * Jobs: creation, reads for the API, and the compare-and-set state
 * transitions the pipeline and the scheduler use. Every transition names the
 * states it may leave, so a late or duplicate caller changes nothing.
 */
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { TERMINAL_JOB_STATES, type JobState, type RenditionName } from '@tabgrid/shared';
import { rows, type Queryable } from '../db/client.js';
import { jobs, taskAttempts, tasks } from '../db/schema.js';

export type JobRow = typeof jobs.$inferSelect;

export async function createJob(
  q: Queryable,
  job: { id: string; name: string; renditions: RenditionName[]; sourceKey: string; sourceSize: number },
): Promise<JobRow> {
  const [row] = await q
    .insert(jobs)
    .values({ id: job.id, name: job.name, requestedRenditions: job.renditions, sourceKey: job.sourceKey, sourceSize: job.sourceSize })
    .returning();
  return row!;
}

export async function getJob(q: Queryable, id: string): Promise<JobRow | undefined> {
  const [row] = await q.select().from(jobs).where(eq(jobs.id, id));
  return row;
}

export async function listJobs(q: Queryable, limit = 200): Promise<JobRow[]> {
  return q.select().from(jobs).orderBy(desc(jobs.createdAt)).limit(limit);
}

/**
 * Moves a job from one of `from` to `to`, optionally setting fields. Returns
 * false if it was in none of `from`. A job that ends (done, failed, canceled)
 * is marked for cleanup, which the pipeline runner then does as a step of its own.
 */
export async function transitionJob(
  q: Queryable,
  id: string,
  from: readonly JobState[],
  to: JobState,
  fields: Partial<Pick<JobRow, 'error' | 'source' | 'ladder' | 'totalChunks' | 'outputs' | 'deliverables'>> = {},
): Promise<boolean> {
  const changed = await q
    .update(jobs)
    .set({ ...fields, state: to, updatedAt: new Date(), ...(TERMINAL_JOB_STATES.includes(to) ? { needsCleanup: true } : {}) })
    .where(and(eq(jobs.id, id), inArray(jobs.state, [...from])))
    .returning({ id: jobs.id });
  return changed.length > 0;
}

/** Task counts per job, for progress. */
export async function taskProgress(q: Queryable, jobIds: readonly string[]): Promise<Map<string, { done: number; total: number }>> {
  const result = new Map<string, { done: number; total: number }>();
  if (jobIds.length === 0) return result;
  const counts = await q
    .select({
      jobId: tasks.jobId,
      done: sql<number>`count(*) filter (where ${tasks.state} = 'done')::int`,
      total: sql<number>`count(*)::int`,
    })
    .from(tasks)
    .where(inArray(tasks.jobId, [...jobIds]))
    .groupBy(tasks.jobId);
  for (const c of counts) result.set(c.jobId, { done: Number(c.done), total: Number(c.total) });
  return result;
}

export async function listTasksWithHistory(q: Queryable, jobId: string) {
  const taskRows = await q.select().from(tasks).where(eq(tasks.jobId, jobId)).orderBy(asc(tasks.chunkIndex), asc(tasks.rendition));
  const history = await q
    .select()
    .from(taskAttempts)
    .innerJoin(tasks, eq(tasks.id, taskAttempts.taskId))
    .where(eq(tasks.jobId, jobId))
    .orderBy(asc(taskAttempts.attempt));
  const byTask = new Map<string, (typeof taskAttempts.$inferSelect)[]>();
  for (const h of history) {
    const list = byTask.get(h.task_attempts.taskId) ?? [];
    list.push(h.task_attempts);
    byTask.set(h.task_attempts.taskId, list);
  }
  return taskRows.map((t) => ({ task: t, history: byTask.get(t.id) ?? [] }));
}

/**
 * After a task settles: a job whose tasks are all done goes on to merging; a
 * job with a dead task fails, naming the chunk, rendition and last reason.
 */
export async function settleTranscoding(q: Queryable, jobId: string): Promise<'merging' | 'failed' | null> {
  const [dead] = await rows<{ chunk_index: number; rendition: string; reasons: string | null; attempts: number }>(
    q,
    sql`SELECT t.chunk_index, t.rendition, t.attempts,
               (SELECT string_agg(r.reason, ' | ' ORDER BY r.attempt DESC)
                  FROM (SELECT a.reason, a.attempt FROM task_attempts a
                         WHERE a.task_id = t.id AND a.reason IS NOT NULL
                         ORDER BY a.attempt DESC LIMIT 3) r) AS reasons
          FROM tasks t WHERE t.job_id = ${jobId} AND t.state = 'dead' ORDER BY t.chunk_index LIMIT 1`,
  );
  if (dead) {
    const error = `chunk ${dead.chunk_index} (${dead.rendition}) failed ${dead.attempts} times; last reasons, newest first: ${dead.reasons ?? 'unknown'}`;
    return (await transitionJob(q, jobId, ['transcoding'], 'failed', { error })) ? 'failed' : null;
  }
  const moved = await rows<{ id: string }>(
    q,
    sql`UPDATE jobs SET state = 'merging', updated_at = now()
         WHERE id = ${jobId} AND state = 'transcoding'
           AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = ${jobId} AND state <> 'done')
           AND EXISTS (SELECT 1 FROM tasks WHERE job_id = ${jobId})
        RETURNING id`,
  );
  return moved.length > 0 ? 'merging' : null;
}
