/**
 * After a job ends, its intermediate objects go: nothing is left in storage
 * that no job refers to.
 *   done      chunks, every segment, the encoded audio
 *   canceled  the same
 *   failed    chunks, the audio and every segment that was not accepted;
 *             accepted segments stay, because POST /retry resumes from them
 * The source and the manifest stay with the job until it is deleted.
 * Runs as a leased step, so a crash halfway simply runs it again.
 */
import { rm } from 'node:fs/promises';
import { finishCleanup, type JobRow } from '../jobs/job-table.js';
import { acceptedSegmentKeys } from '../tasks/task-table.js';
import { storageKeys } from '../storage/keys.js';
import { workDir, type PipelineContext } from './context.js';

export async function runCleanupStep(ctx: PipelineContext, job: JobRow): Promise<void> {
  let removed = 0;
  removed += await ctx.storage.removePrefix(storageKeys.chunksPrefix(job.id));
  removed += await ctx.storage.removePrefix(storageKeys.audioPrefix(job.id));
  if (job.state === 'failed') {
    const accepted = await acceptedSegmentKeys(ctx.db, job.id);
    for (const key of await ctx.storage.list(storageKeys.segmentsPrefix(job.id))) {
      if (!accepted.has(key)) {
        await ctx.storage.remove(key);
        removed++;
      }
    }
  } else {
    removed += await ctx.storage.removePrefix(storageKeys.segmentsPrefix(job.id));
  }
  await rm(workDir(ctx, job.id), { recursive: true, force: true });
  await finishCleanup(ctx.db, job.id, job.state);
  ctx.logger.info({ jobId: job.id, state: job.state, removedObjects: removed }, 'cleaned up intermediate objects');
}
