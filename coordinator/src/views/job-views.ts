/**
 * What the API and the dashboards' event streams show of jobs: the JobView
 * and TaskView shapes built from rows, the `jobs` snapshot (the job list)
 * and the `job` snapshot (one job and its chunk grid), and a cheap change
 * marker for each. Routes and the SSE topics both read jobs only through here.
 *
 * Markers sum the rows' `updated_at` rather than take its max: a transaction
 * stamps rows with its *start* time, so one that commits after a later-started
 * one can add an older timestamp that a max would never show. A sum changes
 * whenever any row's stamp does, and every write to jobs and tasks that a view
 * shows sets `updated_at` (tasks on every lease operation, heartbeats
 * included; jobs on every state transition). Counts catch inserts and deletes.
 * These are read-only queries across jobs, tasks and attempts; every write to
 * those tables lives in its table's module.
 */
import { sql } from 'drizzle-orm';
import type { JobSnapshot, JobsSnapshot, JobView, TaskView } from '@tabgrid/shared';
import { type Db, rows } from '../db/client.js';
import { getJob, type JobRow, listJobs } from '../jobs/job-table.js';
import type { Storage } from '../storage/storage.js';
import { type TaskProgress, type TaskWithHistory, taskProgress, tasksWithHistory } from '../tasks/task-table.js';

/** Output links are fresh presigned GETs: fetchable by a plain GET (and by <video>, with Range) for six hours. */
const OUTPUT_URL_SECONDS = 6 * 3600;

export async function toJobView(job: JobRow, progress: TaskProgress | undefined, storage: Storage): Promise<JobView> {
  const outputs = await Promise.all(
    job.outputs.map(async (o) => ({
      rendition: o.rendition,
      width: o.width,
      height: o.height,
      url: await storage.presignGet(o.key, OUTPUT_URL_SECONDS),
    })),
  );
  const d = job.deliverables;
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    error: job.error,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    renditions: job.ladder?.map((r) => r.name) ?? job.requestedRenditions,
    encoder: { asked: job.encoder, chosen: progress?.encoder ?? null },
    source: {
      duration: job.source?.duration ?? null,
      width: job.source?.width ?? null,
      height: job.source?.height ?? null,
      fps: job.source?.fps ?? null,
      hasAudio: job.source?.hasAudio ?? null,
      ...(job.source ? { normalized: job.source.normalized?.reasons ?? [] } : {}),
    },
    progress: { done: progress?.done ?? 0, total: progress?.total ?? 0 },
    outputs,
    // Relative to the API's origin: the coordinator serves playlists itself,
    // rewriting segment URIs to fresh presigned GETs (routes/hls.ts).
    hls: d?.hls ? { master: `/api/jobs/${job.id}/hls/master.m3u8` } : null,
    poster: d?.posterKey ? await storage.presignGet(d.posterKey, OUTPUT_URL_SECONDS) : null,
    thumbnails: d?.thumbnails
      ? {
          url: await storage.presignGet(d.thumbnails.key, OUTPUT_URL_SECONDS),
          columns: d.thumbnails.columns,
          rows: d.thumbnails.rows,
          count: d.thumbnails.count,
          interval: d.thumbnails.interval,
          width: d.thumbnails.width,
          height: d.thumbnails.height,
        }
      : null,
    quality:
      job.quality?.map((q) => ({
        rendition: q.rendition,
        ssim: q.ssim,
        psnr: q.psnr,
        boundarySsim: q.boundarySsim,
        interiorSsim: q.interiorSsim,
        reference: q.reference,
      })) ?? null,
  };
}

export function toTaskViews(rows: readonly TaskWithHistory[]): TaskView[] {
  return rows.map(({ task, history }) => ({
    chunk: task.chunkIndex,
    rendition: task.rendition,
    state: task.state,
    encoder: task.encoder,
    attempts: task.attempts,
    worker: task.leaseOwner ?? history.at(-1)?.workerId ?? null,
    progress: task.progress,
    lastError: task.lastError,
    history: history.map((h) => ({
      attempt: h.attempt,
      worker: h.workerId,
      outcome: h.outcome,
      reason: h.reason,
      startedAt: h.startedAt.toISOString(),
      endedAt: h.endedAt?.toISOString() ?? null,
    })),
  }));
}

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
  const taskRows = await tasksWithHistory(db, id);
  // Progress from the same rows as the grid, so the two never disagree.
  const first = taskRows[0]?.task;
  const progress = first && {
    done: taskRows.filter((t) => t.task.state === 'done').length,
    total: taskRows.length,
    encoder: first.encoder,
  };
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

/** listJobViews(db, storage) → every job (newest first, at most 200) as the API shows it. */
export async function listJobViews(db: Db, storage: Storage): Promise<JobView[]> {
  return (await jobsSnapshot(db, storage)).jobs;
}

/** jobView(db, storage, id) → the job as the API shows it, or undefined. */
export async function jobView(db: Db, storage: Storage, id: string): Promise<JobView | undefined> {
  const job = await getJob(db, id);
  if (!job) return undefined;
  const progress = await taskProgress(db, [job.id]);
  return toJobView(job, progress.get(job.id), storage);
}

/** taskViews(db, id) → the job's chunk grid. */
export async function taskViews(db: Db, id: string): Promise<TaskView[]> {
  return toTaskViews(await tasksWithHistory(db, id));
}

/**
 * sharedJobView(db, storage, id, capability) → the job as a share link shows
 * it, or undefined. The same JobView, but its HLS master is the share's own
 * route (`/api/shared/:capability/hls/master.m3u8`, whose media playlists
 * then resolve under it), and a failure's reason (which names chunks,
 * workers and tools) is left out: viewers see the outputs, not the operation.
 */
export async function sharedJobView(db: Db, storage: Storage, id: string, capability: string): Promise<JobView | undefined> {
  const view = await jobView(db, storage, id);
  if (!view) return undefined;
  return {
    ...view,
    error: view.error === null ? null : 'the transcode did not finish',
    hls: view.hls ? { master: `/api/shared/${capability}/hls/master.m3u8` } : view.hls,
  };
}
