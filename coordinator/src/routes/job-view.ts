/** Turns database rows into the API's JobView and TaskView shapes. */
import type { JobView, TaskView } from '@tabgrid/shared';
import type { JobRow, listTasksWithHistory } from '../jobs/repository.js';
import type { Storage } from '../storage/storage.js';

/** Output links are fresh presigned GETs: fetchable by a plain GET (and by <video>, with Range) for six hours. */
const OUTPUT_URL_SECONDS = 6 * 3600;

export async function toJobView(job: JobRow, progress: { done: number; total: number } | undefined, storage: Storage): Promise<JobView> {
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
    source: {
      duration: job.source?.duration ?? null,
      width: job.source?.width ?? null,
      height: job.source?.height ?? null,
      fps: job.source?.fps ?? null,
      hasAudio: job.source?.hasAudio ?? null,
      ...(job.source ? { normalized: job.source.normalized?.reasons ?? [] } : {}),
    },
    progress: progress ?? { done: 0, total: 0 },
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

export function toTaskViews(rows: Awaited<ReturnType<typeof listTasksWithHistory>>): TaskView[] {
  return rows.map(({ task, history }) => ({
    chunk: task.chunkIndex,
    rendition: task.rendition,
    state: task.state,
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
