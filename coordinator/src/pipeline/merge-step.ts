/**
 * merging → done: joins each rendition's accepted segments in chunk order,
 * muxes in the source audio (encoded once on the server, so no chunk
 * boundary ever cuts audio), checks the frame count, uploads the output and
 * deletes the intermediate objects. Re-runnable from the start: inputs stay
 * in storage until the job is done.
 */
import path from 'node:path';
import { and, asc, eq } from 'drizzle-orm';
import { manifestSchema } from '@tabgrid/shared';
import { tasks, type JobOutput } from '../db/schema.js';
import { transitionJob, type JobRow } from '../jobs/repository.js';
import { encodeAudio, mergeSegments } from '../media/merge.js';
import { countPackets } from '../media/split.js';
import { storageKeys } from '../storage/keys.js';
import { failpoint } from '../failpoints.js';
import { freshDir, localSource, workDir, type PipelineContext } from './context.js';

export async function runMergeStep(ctx: PipelineContext, job: JobRow): Promise<void> {
  if (!job.source || !job.ladder) throw new Error(`job ${job.id} reached merging without probe results`);
  const dir = await freshDir(path.join(workDir(ctx, job.id), 'merge'));
  const manifest = manifestSchema.parse(JSON.parse((await ctx.storage.getBuffer(storageKeys.manifest(job.id))).toString('utf8')));

  let audio: string | null = null;
  if (job.source.hasAudio) {
    audio = path.join(dir, 'audio.m4a');
    const audioKey = storageKeys.audio(job.id);
    if (await ctx.storage.stat(audioKey)) await ctx.storage.getToFile(audioKey, audio);
    else {
      await encodeAudio(ctx.tools, await localSource(ctx, job), audio);
      await ctx.storage.putFile(audioKey, audio, 'audio/mp4');
    }
  }

  const outputs: JobOutput[] = [];
  for (const rung of job.ladder) {
    const accepted = await ctx.db
      .select({ chunk: tasks.chunkIndex, key: tasks.segmentKey, state: tasks.state })
      .from(tasks)
      .where(and(eq(tasks.jobId, job.id), eq(tasks.rendition, rung.name)))
      .orderBy(asc(tasks.chunkIndex));
    if (accepted.length !== manifest.chunks.length || accepted.some((t, i) => t.chunk !== i || t.state !== 'done' || !t.key)) {
      throw new Error(`rendition ${rung.name}: not every chunk has an accepted segment`);
    }
    const files: string[] = [];
    for (const t of accepted) {
      const file = path.join(dir, `${rung.name}_${String(t.chunk).padStart(4, '0')}.mp4`);
      await ctx.storage.getToFile(t.key!, file);
      files.push(file);
    }
    const out = path.join(dir, `${rung.name}.mp4`);
    await mergeSegments(ctx.tools, { segments: files, audio, listFile: path.join(dir, `${rung.name}.txt`), out });
    const { frames } = await countPackets(ctx.tools, out);
    if (frames !== manifest.totalFrames) {
      throw new Error(`rendition ${rung.name}: merged output has ${frames} frames, the source has ${manifest.totalFrames}`);
    }
    await failpoint(ctx.config.failpoints, 'merge.before-upload', ctx.logger);
    const key = storageKeys.output(job.id, rung.name);
    const { size } = await ctx.storage.putFile(key, out, 'video/mp4');
    outputs.push({ rendition: rung.name, key, width: rung.width, height: rung.height, size });
    ctx.logger.info({ jobId: job.id, rendition: rung.name, frames, bytes: size }, 'merged rendition');
  }

  await failpoint(ctx.config.failpoints, 'merge.after-upload', ctx.logger);
  if (!(await transitionJob(ctx.db, job.id, ['merging'], 'done', { outputs }))) {
    // Canceled meanwhile: what we uploaded belongs to nobody.
    for (const o of outputs) await ctx.storage.remove(o.key);
  }
}
