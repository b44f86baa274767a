/**
 * The `tasks` table and its `task_attempts` (an attempt belongs to its task):
 * every statement that touches them lives here, except the lease statements,
 * which have a module each in leases/. Every state change is an edge of the
 * task state machine (task-states.ts); the database refuses any other.
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { EncodeParams, RenditionName, TaskEncoder, TaskState } from '@tabgrid/shared';
import { type Queryable, rows } from '../db/client.js';
import { taskAttempts, tasks } from '../db/schema.js';
import { closeAttempts } from './close-attempt.js';

export type TaskRecord = typeof tasks.$inferSelect;
export type AttemptRecord = typeof taskAttempts.$inferSelect;
export type NewTask = Pick<TaskRecord, 'id' | 'jobId' | 'chunkIndex' | 'rendition' | 'params' | 'encoder' | 'chunkKey' | 'chunkSize'>;

/** Rows per INSERT: well under PostgreSQL's 65,535 parameters (8 per row). */
const INSERT_BATCH = 500;

/**
 * insertTasks(q, tasks) → void. Queued tasks; one that already exists (same
 * job, chunk, rendition) is kept as it is, so a split that runs again after
 * a crash, or a retry, never duplicates or resets work.
 */
export async function insertTasks(q: Queryable, values: readonly NewTask[]): Promise<void> {
  for (let i = 0; i < values.length; i += INSERT_BATCH) {
    await q
      .insert(tasks)
      .values(values.slice(i, i + INSERT_BATCH))
      .onConflictDoNothing();
  }
}

/**
 * cancelOpenTasks(q, jobId) → [{ id, was }]. queued | leased | verifying →
 * canceled, each open attempt closed as 'canceled'; `was` says which were
 * out with a tab (their leases must be revoked).
 */
export async function cancelOpenTasks(q: Queryable, jobId: string): Promise<{ id: string; was: TaskState }[]> {
  return rows<{ id: string; was: TaskState }>(
    q,
    sql`
    WITH old AS (
      SELECT id, state AS was, attempts FROM tasks WHERE job_id = ${jobId} AND state IN ('queued', 'leased', 'verifying') FOR UPDATE
    ), changed AS (
      UPDATE tasks t SET state = 'canceled', lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        FROM old WHERE t.id = old.id
      RETURNING t.id AS task_id, old.was, old.attempts
    ), closed AS (${closeAttempts('changed', 'canceled', 'the job was canceled')})
    SELECT task_id AS id, was FROM changed`,
  );
}

/** requeueForRetry(q, jobId) → void. dead | canceled → queued with a fresh MAX_ATTEMPTS (counted from retry_base). */
export async function requeueForRetry(q: Queryable, jobId: string): Promise<void> {
  await q.execute(sql`
    UPDATE tasks SET state = 'queued', retry_base = attempts, available_at = now(), last_error = NULL, updated_at = now()
     WHERE job_id = ${jobId} AND state IN ('dead', 'canceled')`);
}

/** deleteTasksOfJob(q, jobId) → void. A canceled job that is retried starts its chunk work over. */
export async function deleteTasksOfJob(q: Queryable, jobId: string): Promise<void> {
  await q.execute(sql`DELETE FROM tasks WHERE job_id = ${jobId}`);
}

/** renditionSegments(q, jobId, rendition) → [{ chunk, key, state }] in chunk order: what the merge joins. */
export async function renditionSegments(
  q: Queryable,
  jobId: string,
  rendition: RenditionName,
): Promise<{ chunk: number; key: string | null; state: TaskState }[]> {
  return q
    .select({ chunk: tasks.chunkIndex, key: tasks.segmentKey, state: tasks.state })
    .from(tasks)
    .where(and(eq(tasks.jobId, jobId), eq(tasks.rendition, rendition)))
    .orderBy(asc(tasks.chunkIndex));
}

/** renditionParams(q, jobId, rendition) → the first chunk's EncodeParams (the same for every chunk but `frames`), or undefined. */
export async function renditionParams(q: Queryable, jobId: string, rendition: RenditionName): Promise<EncodeParams | undefined> {
  const [task] = await q
    .select({ params: tasks.params })
    .from(tasks)
    .where(and(eq(tasks.jobId, jobId), eq(tasks.rendition, rendition)))
    .orderBy(asc(tasks.chunkIndex))
    .limit(1);
  return task?.params;
}

/** acceptedSegmentKeys(q, jobId) → keys of every accepted segment of the job. */
export async function acceptedSegmentKeys(q: Queryable, jobId: string): Promise<Set<string>> {
  const accepted = await q
    .select({ key: tasks.segmentKey })
    .from(tasks)
    .where(and(eq(tasks.jobId, jobId), eq(tasks.state, 'done')));
  return new Set(accepted.flatMap((t) => (t.key ? [t.key] : [])));
}

/** taskProgress(q, jobIds) → done and total task counts per job. */
export async function taskProgress(q: Queryable, jobIds: readonly string[]): Promise<Map<string, TaskProgress>> {
  const result = new Map<string, TaskProgress>();
  if (jobIds.length === 0) return result;
  const counts = await q
    .select({
      jobId: tasks.jobId,
      done: sql<number>`count(*) filter (where ${tasks.state} = 'done')::int`,
      total: sql<number>`count(*)::int`,
      // One encoder per job (tasks/plan-tasks.ts): any task's is the job's.
      encoder: sql<TaskEncoder>`min(${tasks.encoder})`,
    })
    .from(tasks)
    .where(inArray(tasks.jobId, [...jobIds]))
    .groupBy(tasks.jobId);
  for (const c of counts) result.set(c.jobId, { done: Number(c.done), total: Number(c.total), encoder: c.encoder });
  return result;
}

/** A job's tasks: how many are done, of how many, and the encoder they are pinned to. */
export interface TaskProgress {
  done: number;
  total: number;
  encoder: TaskEncoder;
}

export interface TaskWithHistory {
  task: TaskRecord;
  history: AttemptRecord[];
}

/** tasksWithHistory(q, jobId) → every task of the job in grid order, each with its attempts, oldest first. */
export async function tasksWithHistory(q: Queryable, jobId: string): Promise<TaskWithHistory[]> {
  const taskRows = await q.select().from(tasks).where(eq(tasks.jobId, jobId)).orderBy(asc(tasks.chunkIndex), asc(tasks.rendition));
  const history = await q
    .select()
    .from(taskAttempts)
    .innerJoin(tasks, eq(tasks.id, taskAttempts.taskId))
    .where(eq(tasks.jobId, jobId))
    .orderBy(asc(taskAttempts.attempt));
  const byTask = new Map<string, AttemptRecord[]>();
  for (const h of history) {
    const list = byTask.get(h.task_attempts.taskId) ?? [];
    list.push(h.task_attempts);
    byTask.set(h.task_attempts.taskId, list);
  }
  return taskRows.map((t) => ({ task: t, history: byTask.get(t.id) ?? [] }));
}

/**
 * wasAcceptedFrom(q, { taskId, workerId, sha256, size }) → boolean: the task
 * is done with exactly this segment, from this worker's latest attempt. A tab
 * whose answer to an accepted completion was lost sends it again; it is told
 * yes again, and nothing is counted twice.
 */
export async function wasAcceptedFrom(
  q: Queryable,
  opts: { taskId: string; workerId: string; sha256: string; size: number },
): Promise<boolean> {
  const [row] = await rows<{ ok: boolean }>(
    q,
    sql`SELECT true AS ok FROM tasks t JOIN task_attempts a ON a.task_id = t.id AND a.attempt = t.attempts
         WHERE t.id = ${opts.taskId} AND t.state = 'done' AND t.segment_sha256 = ${opts.sha256}
           AND t.segment_size = ${opts.size} AND a.worker_id = ${opts.workerId}`,
  );
  return Boolean(row?.ok);
}

export interface SegmentOwnership {
  job_id: string;
  chunk_index: number;
  rendition: RenditionName;
  attempts: number;
  state: TaskState;
  segment_key: string | null;
}

/** segmentOwnership(q, taskId) → what a task's segment keys are and which one (if any) was accepted; undefined if no such task. */
export async function segmentOwnership(q: Queryable, taskId: string): Promise<SegmentOwnership | undefined> {
  const [task] = await rows<SegmentOwnership>(
    q,
    sql`SELECT job_id, chunk_index, rendition, attempts, state, segment_key FROM tasks WHERE id = ${taskId}`,
  );
  return task;
}

export interface DeadTask {
  chunk_index: number;
  rendition: string;
  attempts: number;
  /** The last three failure reasons, newest first, joined with ' | '. */
  reasons: string | null;
}

/** firstDeadTask(q, jobId) → the lowest-numbered dead task of the job with its last reasons, or undefined. */
export async function firstDeadTask(q: Queryable, jobId: string): Promise<DeadTask | undefined> {
  const [dead] = await rows<DeadTask>(
    q,
    sql`SELECT t.chunk_index, t.rendition, t.attempts,
               (SELECT string_agg(r.reason, ' | ' ORDER BY r.attempt DESC)
                  FROM (SELECT a.reason, a.attempt FROM task_attempts a
                         WHERE a.task_id = t.id AND a.reason IS NOT NULL
                         ORDER BY a.attempt DESC LIMIT 3) r) AS reasons
          FROM tasks t WHERE t.job_id = ${jobId} AND t.state = 'dead' ORDER BY t.chunk_index LIMIT 1`,
  );
  return dead;
}

/** A condition on a job row (alias `jobs`): it has tasks and every one is done. For transitionJob's `onlyIf`. */
export const everyTaskDone = sql`EXISTS (SELECT 1 FROM tasks WHERE tasks.job_id = jobs.id)
  AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.job_id = jobs.id AND tasks.state <> 'done')`;

// ---- Results that wait for replicas, and withdrawn results (scheduler/replication.ts, scheduler/catch-worker.ts).

/**
 * acceptWithoutReplica(q, { taskId, segment, reason }) → { job_id } | undefined.
 * queued → done with a pending result's protected copy, for a task that
 * waited for a replica in vain (task-results.ts tasksToSettleWithoutReplica):
 * the segment passed the content check when it was submitted. undefined when
 * the task is no longer waiting (a replica was claimed meanwhile).
 */
export async function acceptWithoutReplica(
  q: Queryable,
  opts: { taskId: string; segment: { key: string; size: number; sha256: string } },
): Promise<{ job_id: string } | undefined> {
  const [row] = await rows<{ job_id: string }>(
    q,
    sql`UPDATE tasks SET state = 'done', segment_key = ${opts.segment.key}, segment_size = ${opts.segment.size},
                          segment_sha256 = ${opts.segment.sha256}, replica_config = NULL, replica_deadline = NULL,
                          last_error = NULL, progress = 1, updated_at = now()
         WHERE id = ${opts.taskId} AND state = 'queued' AND replica_config IS NOT NULL
        RETURNING job_id`,
  );
  return row;
}

/**
 * stopWaitingForReplica(q, taskIds) → void. Queued tasks none of whose
 * results is pending any more (their workers were caught) wait for no
 * replica: any worker may take them again.
 */
export async function stopWaitingForReplica(q: Queryable, taskIds: readonly string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await q.execute(sql`
    UPDATE tasks SET replica_config = NULL, replica_deadline = NULL, updated_at = now()
     WHERE id = ANY(string_to_array(${taskIds.join(',')}, ',')) AND state = 'queued' AND replica_config IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM task_results r WHERE r.task_id = tasks.id AND r.verdict = 'pending')`);
}

/**
 * requeueWithdrawn(q, { taskIds, reason }) → [{ task_id, job_id, job_state }].
 * done → queued for tasks whose accepted segment was withdrawn, only in jobs
 * still transcoding or merging (a finished job keeps what it published).
 * Each job row is locked first, so a merge that is about to finish waits and
 * then finds its job moved back. The redo gets a fresh MAX_ATTEMPTS
 * (retry_base = attempts): it is no fault of the task's.
 */
export async function requeueWithdrawn(
  q: Queryable,
  opts: { taskIds: readonly string[]; reason: string },
): Promise<{ task_id: string; job_id: string; job_state: 'transcoding' | 'merging' }[]> {
  if (opts.taskIds.length === 0) return [];
  return rows(
    q,
    sql`
    WITH locked AS (
      SELECT j.id, j.state FROM jobs j
       WHERE j.id IN (SELECT job_id FROM tasks WHERE id = ANY(string_to_array(${opts.taskIds.join(',')}, ',')))
         AND j.state IN ('transcoding', 'merging')
         FOR UPDATE OF j
    )
    UPDATE tasks t SET state = 'queued', segment_key = NULL, segment_size = NULL, segment_sha256 = NULL,
                       retry_base = t.attempts, available_at = now(), progress = 0, replica_config = NULL,
                       replica_deadline = NULL, last_error = ${opts.reason}, updated_at = now()
      FROM locked
     WHERE t.id = ANY(string_to_array(${opts.taskIds.join(',')}, ',')) AND t.job_id = locked.id AND t.state = 'done'
    RETURNING t.id AS task_id, t.job_id, locked.state AS job_state`,
  );
}

export interface MergeSegment {
  task_id: string;
  chunk_index: number;
  state: TaskState;
  segment_key: string | null;
  segment_size: number | null;
  segment_sha256: string | null;
}

/** mergeSegmentsOf(q, jobId, rendition) → every task of the rendition in chunk order, with its accepted segment's key, size and sha256. */
export async function mergeSegmentsOf(q: Queryable, jobId: string, rendition: RenditionName): Promise<MergeSegment[]> {
  return rows<MergeSegment>(
    q,
    sql`SELECT id AS task_id, chunk_index, state, segment_key, segment_size, segment_sha256 FROM tasks
         WHERE job_id = ${jobId} AND rendition = ${rendition} ORDER BY chunk_index`,
  );
}
