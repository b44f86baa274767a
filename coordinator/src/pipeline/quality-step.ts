/**
 * After done, before the chunks are deleted: SSIM and PSNR of every merged
 * rendition against the chunks it was made from, boundary frames vs the
 * rest, and a single-pass native libx264 encode of the same input with the
 * same settings as the reference (media/quality.ts).
 *
 * Not in the merge step: it costs several times the merge (a full native
 * encode and two full decodes per rung), and `done` should not wait for it.
 * It is a step of its own (pipeline/steps.ts), run for a done job just
 * before its cleanup step, under the same step lease: it needs the chunks
 * the cleanup then deletes. Best effort: a failure is logged and leaves `quality` null; the
 * job stays done.
 *
 * Measured on the 10 s 720p clip (2 cores): 720p 8.0 s, 360p 3.7 s, against
 * ~1 s for the merge. The runner runs one step at a time, so a long source
 * would hold up other jobs' steps: only the chunks that start within the
 * first QUALITY_WINDOW_SECONDS are measured (every chunk of a short video).
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { manifestSchema } from '@tabgrid/shared';
import type { StoredRenditionQuality } from '../db/schema.js';
import { type JobRow, setJobQuality } from '../jobs/job-table.js';
import { renditionParams } from '../tasks/task-table.js';
import { encodeReference, frameScores, summarise, writeConcatList } from '../media/quality.js';
import { storageKeys } from '../storage/keys.js';
import { freshDir, workDir, type PipelineContext } from './context.js';

export const QUALITY_WINDOW_SECONDS = 60;

export async function runQualityStep(ctx: PipelineContext, job: JobRow): Promise<void> {
  if (job.state !== 'done' || job.quality || job.outputs.length === 0) return;
  const started = Date.now();
  try {
    const dir = await freshDir(path.join(workDir(ctx, job.id), 'quality'));
    const manifest = manifestSchema.parse(JSON.parse((await ctx.storage.getBuffer(storageKeys.manifest(job.id))).toString('utf8')));
    const fps = job.source?.fps && job.source.fps > 0 ? job.source.fps : 30;
    let startFrame = 0;
    const window = manifest.chunks.filter((c) => {
      const inside = startFrame / fps < QUALITY_WINDOW_SECONDS;
      startFrame += c.frames;
      return inside;
    });
    const chunks: string[] = [];
    for (const c of window) {
      const file = path.join(dir, path.basename(c.key));
      await ctx.storage.getToFile(c.key, file);
      chunks.push(file);
    }
    const list = path.join(dir, 'chunks.txt');
    await writeConcatList(list, chunks);
    const chunkFrames = window.map((c) => c.frames);
    const frames = chunkFrames.reduce((a, b) => a + b, 0);
    const results: StoredRenditionQuality[] = [];
    for (const o of job.outputs) {
      const t0 = Date.now();
      const params = await renditionParams(ctx.db, job.id, o.rendition);
      if (!params) continue;
      // The merged file from the merge step when this coordinator still has it, else from storage.
      let merged = path.join(workDir(ctx, job.id), 'merge', `${o.rendition}.mp4`);
      if ((await stat(merged).catch(() => null))?.size !== o.size) {
        merged = path.join(dir, `${o.rendition}.mp4`);
        await ctx.storage.getToFile(o.key, merged);
      }
      const statsDir = path.join(dir, o.rendition);
      await mkdir(statsDir, { recursive: true });
      const grid = summarise(await frameScores(ctx.tools, { distorted: merged, reference: list, params, statsDir, frames }), chunkFrames);
      const refFile = path.join(dir, `${o.rendition}.reference.mp4`);
      await encodeReference(ctx.tools, { input: list, params, out: refFile });
      const ref = summarise(await frameScores(ctx.tools, { distorted: refFile, reference: list, params, statsDir }), chunkFrames);
      if (grid.frames !== frames || ref.frames !== frames)
        throw new Error(`${o.rendition}: measured ${grid.frames}/${ref.frames} frames, expected ${frames}`);
      results.push({ rendition: o.rendition, ...grid, reference: { ssim: ref.ssim, psnr: ref.psnr }, elapsedMs: Date.now() - t0 });
    }
    await setJobQuality(ctx.db, job.id, results);
    ctx.notifier.publish({ kind: 'job', jobId: job.id });
    ctx.logger.info({ jobId: job.id, quality: results, elapsedMs: Date.now() - started }, 'quality measured');
  } catch (err) {
    ctx.logger.warn({ jobId: job.id, err }, 'quality measurement failed; the job stays done without figures');
  }
}
