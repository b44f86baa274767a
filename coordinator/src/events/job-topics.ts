/**
 * Change markers and snapshots for the `jobs` topic (the job list) and the
 * `job` topic (one job and its chunk grid).
 *
 * Markers sum the rows' `updated_at` rather than take its max: a transaction
 * stamps rows with its *start* time, so one that commits after a later-started
 * one can add an older timestamp that a max would never show. A sum changes
 * whenever any row's stamp does, and every write to jobs and tasks that a view
 * shows sets `updated_at` (tasks on every lease operation, heartbeats
 * included; jobs on every state transition). Counts catch inserts and deletes.
 */
import { sql } from 'drizzle-orm';
import type { JobSnapshot, JobsSnapshot } from '@tabgrid/shared';
import { rows, type Db } from '../db/client.js';
import { getJob, listJobs, listTasksWithHistory, taskProgress } from '../jobs/repository.js';
import { toJobView, toTaskViews } from '../routes/job-view.js';
import type { Storage } from '../storage/storage.js';

async function marker(db: Db, query: ReturnType<typeof sql>): Promise<string> {
  const [row] = await rows<{ marker: string }>(db, query);
  return String(row?.marker ?? '');
}

/** Changes when a job is created, deleted or transitions, or when any task is created, deleted, or done. */
export function jobsMarker(db: Db): Promise<string> {
  return marker(
    db,
    sql`SELECT concat_ws('|',
          (SELECT count(*) || ':' || coalesce(sum(extract(epoch FROM updated_at)), 0) FROM jobs),
          (SELECT count(*) || ':' || count(*) FILTER (WHERE state = 'done') FROM tasks)) AS marker`,
  );
}

export async function jobsSnapshot(db: Db, storage: Storage): Promise<JobsSnapshot> {
  const jobRows = await listJobs(db);
  const progress = await taskProgress(
    db,
    jobRows.map((j) => j.id),
  );
  return { jobs: await Promise.all(jobRows.map((j) => toJobView(j, progress.get(j.id), storage))) };
}

/** Changes with the job row or any of its tasks (and so with their attempts, which are only written alongside them). */
export function jobMarker(db: Db, id: string): Promise<string> {
  return marker(
    db,
    sql`SELECT concat_ws('|',
          coalesce((SELECT state || ':' || extract(epoch FROM updated_at) FROM jobs WHERE id = ${id}), 'none'),
          (SELECT count(*) || ':' || coalesce(sum(extract(epoch FROM updated_at)), 0) FROM tasks WHERE job_id = ${id})) AS marker`,
  );
}

export async function jobSnapshot(db: Db, storage: Storage, id: string): Promise<JobSnapshot> {
  const [clock] = await rows<{ now: Date | string }>(db, sql`SELECT clock_timestamp() AS now`);
  const serverTime = new Date(clock!.now).toISOString();
  const job = await getJob(db, id);
  if (!job) return { id, job: null, tasks: [], chunkFrames: [], serverTime };
  const taskRows = await listTasksWithHistory(db, id);
  // Progress from the same rows as the grid, so the two never disagree.
  const progress = { done: taskRows.filter((t) => t.task.state === 'done').length, total: taskRows.length };
  const chunkFrames: number[] = [];
  for (const { task } of taskRows) chunkFrames[task.chunkIndex] = task.params.frames;
  return {
    id,
    job: await toJobView(job, progress, storage),
    tasks: toTaskViews(taskRows),
    chunkFrames: Array.from(chunkFrames, (f) => f ?? 0),
    serverTime,
  };
}
