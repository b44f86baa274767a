/**
 * splitting → transcoding: cuts the source into chunks, uploads them and the
 * manifest, and creates one task per chunk × rendition (tasks/plan-tasks.ts). Re-runnable: chunks
 * are deterministic and overwritten, tasks are inserted with ON CONFLICT DO
 * NOTHING, so a coordinator killed halfway simply runs it again.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_VERSION, manifestSchema, type Manifest, resolveEncoder } from '@tabgrid/shared';
import { PermanentError } from '../errors.js';
import { transitionJob, type JobRow } from '../jobs/job-table.js';
import { planTasks } from '../tasks/plan-tasks.js';
import { insertTasks } from '../tasks/task-table.js';
import { makeMezzanine } from '../media/normalize.js';
import { CHUNK_CONTAINER, splitIntoChunks } from '../media/split.js';
import { storageKeys } from '../storage/keys.js';
import { encoderCensus } from '../workers/worker-table.js';
import { freshDir, localSource, workDir, type PipelineContext } from './context.js';

export async function runSplitStep(ctx: PipelineContext, job: JobRow): Promise<void> {
  if (!job.source || !job.ladder) throw new Error(`job ${job.id} reached splitting without probe results`);
  const original = await localSource(ctx, job);
  const dir = await freshDir(path.join(workDir(ctx, job.id), 'chunks'));
  const started = Date.now();
  let source = original;
  const normalized = job.source.normalized;
  if (normalized) {
    // Deterministic, so a re-run after a crash simply makes it again.
    source = path.join(workDir(ctx, job.id), 'mezzanine.mkv');
    await makeMezzanine(ctx.tools, original, source, {
      frameRate: normalized.frameRate,
      chunkSeconds: ctx.config.chunkSeconds,
      interlaced: normalized.reasons.includes('interlaced'),
      oddSize: job.source.width % 2 === 1 || job.source.height % 2 === 1,
    });
    ctx.logger.info({ jobId: job.id, reasons: normalized.reasons, ms: Date.now() - started }, 'made native mezzanine');
  }
  const chunks = await splitIntoChunks(ctx.tools, source, dir, ctx.config.chunkSeconds);
  if (chunks.length === 0) throw new PermanentError('no_frames', 'the video has no frames ffmpeg can read');
  ctx.logger.info({ jobId: job.id, chunks: chunks.length, ms: Date.now() - started }, 'split source into chunks');

  const manifest: Manifest = manifestSchema.parse({
    version: MANIFEST_VERSION,
    jobId: job.id,
    container: CHUNK_CONTAINER,
    targetChunkSeconds: ctx.config.chunkSeconds,
    totalFrames: chunks.reduce((s, c) => s + c.frames, 0),
    chunks: chunks.map((c) => ({
      index: c.index,
      key: storageKeys.chunk(job.id, c.index, CHUNK_CONTAINER),
      size: c.size,
      frames: c.frames,
      duration: c.duration,
    })),
  });
  for (const [i, c] of chunks.entries()) {
    await ctx.storage.putFile(manifest.chunks[i]!.key, c.path, 'video/x-matroska');
    if ((i + 1) % 10 === 0 || i === chunks.length - 1) {
      ctx.logger.info({ jobId: job.id, uploaded: i + 1, of: chunks.length }, 'uploading chunks');
    }
  }
  await ctx.storage.putBuffer(storageKeys.manifest(job.id), Buffer.from(JSON.stringify(manifest, null, 2)), 'application/json');

  // One encoder for the whole job (the merge stream-copies each rendition): `auto` looks at who is connected now.
  // The tabs decode the chunks: the mezzanine's (H.264, 4:2:0 unless the size is odd) or the source's own stream.
  const chunkFormat = normalized
    ? { codec: 'h264', pixFmt: job.source.width % 2 === 1 || job.source.height % 2 === 1 ? 'yuv444p' : 'yuv420p' }
    : { codec: job.source.codec, ...(job.source.pixFmt ? { pixFmt: job.source.pixFmt } : {}) };
  const encoder = resolveEncoder(job.encoder, await encoderCensus(ctx.db), chunkFormat);
  ctx.logger.info({ jobId: job.id, asked: job.encoder, encoder }, 'encoder chosen');
  await ctx.db.transaction(async (tx) => {
    await insertTasks(tx, planTasks({ id: job.id, source: job.source!, ladder: job.ladder!, encoder }, manifest));
    await transitionJob(tx, job.id, ['splitting'], 'transcoding', { totalChunks: chunks.length });
  });
  await freshDir(dir);
  if (source !== original) await rm(source, { force: true });
}
