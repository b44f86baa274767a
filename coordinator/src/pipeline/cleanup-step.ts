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
import { and, eq } from 'drizzle-orm';
import { jobs, tasks } from '../db/schema.js';
import type { JobRow } from '../jobs/repository.js';
import { storageKeys } from '../storage/keys.js';
import { workDir, type PipelineContext } from './context.js';
import { runQualityStep } from './quality-step.js';

export async function runCleanupStep(ctx: PipelineContext, job: JobRow): Promise<void> {
  // Needs the chunks this step deletes; does nothing unless done and not measured yet.
  await runQualityStep(ctx, job);
  let removed = 0;
  removed += await ctx.storage.removePrefix(storageKeys.chunksPrefix(job.id));
  removed += await ctx.storage.removePrefix(storageKeys.audioPrefix(job.id));
  if (job.state === 'failed') {
    const accepted = new Set(
      (
        await ctx.db
          .select({ key: tasks.segmentKey })
          .from(tasks)
          .where(and(eq(tasks.jobId, job.id), eq(tasks.state, 'done')))
      ).map((t) => t.key),
    );
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
  // Only if the job is still in the state we cleaned for (a retry may have restarted it meanwhile).
  await ctx.db
    .update(jobs)
    .set({ needsCleanup: false })
    .where(and(eq(jobs.id, job.id), eq(jobs.state, job.state)));
  ctx.logger.info({ jobId: job.id, state: job.state, removedObjects: removed }, 'cleaned up intermediate objects');
}
