/**
 * What the merge step does before it joins anything: nothing it merges can
 * have been changed since it was checked.
 *
 *   1. Uploads written after their check. The coordinator deletes a tab's
 *      upload once the bytes it checked are safe under the protected key
 *      (scheduler/complete-segment.ts), but the tab's presigned PUT lives on
 *      for 30 minutes. An upload key that holds other bytes than its checked
 *      result was written afterwards, by the tab that held the URL: its
 *      worker is caught (scheduler/catch-worker.ts), and whatever of the
 *      job stood on its word alone is done again. (One still holding the
 *      checked bytes is a deletion that has not landed yet; it is removed.)
 *   2. Each accepted segment is downloaded from its protected copy and its
 *      sha256 checked against the one recorded at acceptance. A mismatch is
 *      never merged: nobody's presigned URL can write that key, so no worker
 *      is blamed; the task is done again and the job goes back to
 *      transcoding. The job does not fail for it.
 *
 * Either way the merge stops (`reopened`) and runs again once the redone
 * chunks are accepted.
 */
import path from 'node:path';
import type { RenditionName } from '@tabgrid/shared';
import { transitionJob } from '../jobs/job-table.js';
import { catchWorker } from '../scheduler/catch-worker.js';
import { sha256File } from '../scheduler/verify-segment.js';
import { storageKeys } from '../storage/keys.js';
import { submittedAttempts, withdrawResult } from '../tasks/task-results.js';
import { type MergeSegment, mergeSegmentsOf, requeueWithdrawn } from '../tasks/task-table.js';
import type { PipelineContext } from './context.js';

export type AuditedRendition = { ok: true; files: string[] } | { ok: false; reopened: string };

const UPLOAD_KEY = /chunk_(\d+)\.a(\d+)\.mp4$/;

/**
 * Downloads the rendition's accepted segments into `dir`, each checked
 * against its recorded sha256, after catching the authors of uploads written
 * after their check. `{ ok: false }` when the job went back to transcoding.
 */
export async function fetchAuditedSegments(
  ctx: PipelineContext,
  opts: { jobId: string; rendition: RenditionName; chunks: number; dir: string },
): Promise<AuditedRendition> {
  const { jobId, rendition } = opts;
  const caught = await catchOverwriters(ctx, jobId, rendition, opts.dir);
  const segments = await mergeSegmentsOf(ctx.db, jobId, rendition);
  if (caught > 0 && segments.some((t) => t.state !== 'done')) {
    return { ok: false, reopened: `an upload was overwritten after its check: its worker was caught and its chunks are redone` };
  }
  if (segments.length !== opts.chunks || segments.some((t, i) => t.chunk_index !== i || t.state !== 'done' || !t.segment_key)) {
    throw new Error(`rendition ${rendition}: not every chunk has an accepted segment`);
  }
  const files: string[] = [];
  const changed: MergeSegment[] = [];
  for (const t of segments) {
    const file = path.join(opts.dir, `${rendition}_${String(t.chunk_index).padStart(4, '0')}.mp4`);
    await ctx.storage.getToFile(t.segment_key!, file);
    if ((await sha256File(file)) !== t.segment_sha256) changed.push(t);
    files.push(file);
  }
  if (changed.length === 0) return { ok: true, files };

  const reason = `its stored copy changed after it was accepted (sha256 differs); the chunk is transcoded again`;
  ctx.logger.warn({ jobId, rendition, chunks: changed.map((t) => t.chunk_index) }, 'accepted segment changed in storage: not merged');
  await ctx.db.transaction(async (tx) => {
    for (const t of changed) await withdrawResult(tx, { taskId: t.task_id, segmentKey: t.segment_key!, reason });
    await requeueWithdrawn(tx, { taskIds: changed.map((t) => t.task_id), reason: `redone: ${reason}` });
    await transitionJob(tx, jobId, ['merging'], 'transcoding');
  });
  ctx.notifier.publish({ kind: 'job', jobId });
  ctx.notifier.publish({ kind: 'work' });
  return { ok: false, reopened: `chunk(s) ${changed.map((t) => t.chunk_index).join(', ')} of ${rendition}: ${reason}` };
}

/** Catches the worker behind every upload key that holds other bytes than the result checked from it; returns how many were caught. */
async function catchOverwriters(ctx: PipelineContext, jobId: string, rendition: RenditionName, dir: string): Promise<number> {
  const keys = await ctx.storage.list(storageKeys.renditionUploadsPrefix(jobId, rendition));
  if (keys.length === 0) return 0;
  const submitted = await submittedAttempts(ctx.db, jobId, rendition);
  let caught = 0;
  for (const key of keys) {
    const m = UPLOAD_KEY.exec(key);
    const result = m ? submitted.get(`${Number(m[1])}/${Number(m[2])}`) : undefined;
    // No result for it: a zombie's late upload or a check that has not finished; the cleanup deletes those.
    if (!m || !result) continue;
    const file = path.join(dir, 'overwrite-check.mp4');
    await ctx.storage.getToFile(key, file);
    const same = (await sha256File(file)) === result.segment_sha256;
    await ctx.storage.remove(key);
    if (same) continue;
    caught++;
    await catchWorker(ctx, {
      workerId: result.worker_id,
      reason: `job ${jobId} chunk ${Number(m[1])} (${rendition}) attempt ${Number(m[2])}: uploaded other bytes after its segment was checked`,
    });
  }
  return caught;
}
