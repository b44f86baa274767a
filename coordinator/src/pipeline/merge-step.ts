/**
 * merging → done: joins each rendition's accepted segments in chunk order,
 * muxes in the source audio (encoded once on the server, so no chunk
 * boundary ever cuts audio), checks the frame count, uploads the output and
 * deletes the intermediate objects. Also packages the HLS ladder (fMP4,
 * segments on chunk starts, audio as its own group; media/hls.ts), a poster
 * and a thumbnail sprite (media/preview.ts): stream copies and a few decoded
 * frames, cheap next to the merge itself. Re-runnable from the start: inputs
 * stay in storage until the job is done.
 *
 * It merges only what was checked (merge-audit.ts): each segment comes from
 * its protected copy and must hash as it did when accepted; an upload
 * overwritten after its check catches its worker. Either finding sends the
 * affected chunks back to the tabs and the job back to transcoding, before
 * anything is uploaded.
 */
import path from 'node:path';
import { manifestSchema } from '@tabgrid/shared';
import { mkdir } from 'node:fs/promises';
import type { JobDeliverables, JobOutput } from '../db/schema.js';
import { transitionJob, type JobRow } from '../jobs/job-table.js';
import { encodeAudio, mergeSegments } from '../media/merge.js';
import { countPackets } from '../media/split.js';
import { avcCodecStringOfFile, buildMasterPlaylist, packageHls, type PackagedPlaylist, type VariantStream } from '../media/hls.js';
import { extractPoster, extractThumbnailSprite, thumbnailGrid } from '../media/preview.js';
import type { Storage } from '../storage/storage.js';
import { storageKeys } from '../storage/keys.js';
import { failpoint } from '../failpoints.js';
import { freshDir, localSource, workDir, type PipelineContext } from './context.js';
import { fetchAuditedSegments } from './merge-audit.js';

export async function runMergeStep(ctx: PipelineContext, job: JobRow): Promise<void> {
  if (!job.source || !job.ladder) throw new Error(`job ${job.id} reached merging without probe results`);
  const dir = await freshDir(path.join(workDir(ctx, job.id), 'merge'));
  const manifest = manifestSchema.parse(JSON.parse((await ctx.storage.getBuffer(storageKeys.manifest(job.id))).toString('utf8')));

  // Every rendition's segments, checked, before anything is merged or uploaded.
  const segmentFiles = new Map<string, string[]>();
  for (const rung of job.ladder) {
    const audited = await fetchAuditedSegments(ctx, { jobId: job.id, rendition: rung.name, chunks: manifest.chunks.length, dir });
    if (!audited.ok) {
      ctx.logger.warn({ jobId: job.id, rendition: rung.name, why: audited.reopened }, 'merge stopped: chunks go back to the tabs');
      return;
    }
    segmentFiles.set(rung.name, audited.files);
  }

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

  const hlsDir = path.join(dir, 'hls');
  const uploadPlaylist = async (name: string, p: PackagedPlaylist): Promise<void> => {
    for (const file of p.files) {
      await ctx.storage.putFile(storageKeys.hlsFile(job.id, name, file), path.join(p.dir, file), hlsContentType(file));
    }
  };
  let audioGroup: { playlist: PackagedPlaylist } | null = null;
  if (audio) {
    const aDir = path.join(hlsDir, 'audio');
    await mkdir(aDir, { recursive: true });
    audioGroup = {
      playlist: await packageHls(ctx.tools, { input: audio, stream: 'audio', dir: aDir, segmentSeconds: ctx.config.chunkSeconds }),
    };
    await uploadPlaylist('audio', audioGroup.playlist);
  }
  const frameRate = job.source.fps;
  const variants: VariantStream[] = [];
  let topOutput: string | null = null;

  const outputs: JobOutput[] = [];
  for (const rung of job.ladder) {
    const files = segmentFiles.get(rung.name)!;
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
    topOutput ??= out;

    const vDir = path.join(hlsDir, rung.name);
    await mkdir(vDir, { recursive: true });
    const packaged = await packageHls(ctx.tools, { input: out, stream: 'video', dir: vDir, segmentSeconds: ctx.config.chunkSeconds });
    if (packaged.segments.length !== manifest.chunks.length) {
      // Still valid HLS, only not one segment per chunk (an x264 scene-cut keyframe near a cut point).
      ctx.logger.warn(
        { jobId: job.id, rendition: rung.name, segments: packaged.segments.length, chunks: manifest.chunks.length },
        'HLS segments not aligned with chunks',
      );
    }
    await uploadPlaylist(rung.name, packaged);
    variants.push({
      uri: `${rung.name}.m3u8`,
      width: rung.width,
      height: rung.height,
      frameRate,
      videoCodec: await avcCodecStringOfFile(path.join(vDir, 'init.mp4')),
      peakBandwidth: packaged.peakBandwidth,
      averageBandwidth: packaged.averageBandwidth,
    });
    ctx.logger.info({ jobId: job.id, rendition: rung.name, frames, bytes: size }, 'merged rendition');
  }

  const masterKey = storageKeys.hlsMaster(job.id);
  const master = buildMasterPlaylist(
    variants,
    audioGroup
      ? {
          uri: 'audio.m3u8',
          codec: 'mp4a.40.2', // AAC-LC: ffmpeg's native aac encoder (media/merge.ts encodeAudio), 2 channels
          channels: 2,
          peakBandwidth: audioGroup.playlist.peakBandwidth,
          averageBandwidth: audioGroup.playlist.averageBandwidth,
        }
      : null,
  );
  await ctx.storage.putBuffer(masterKey, Buffer.from(master, 'utf8'), 'application/vnd.apple.mpegurl');

  const deliverables: JobDeliverables = {
    hls: { masterKey, playlists: [...(audioGroup ? ['audio'] : []), ...variants.map((v) => v.uri.replace(/\.m3u8$/, ''))] },
    posterKey: null,
    thumbnails: null,
  };
  if (topOutput) {
    const poster = path.join(dir, 'poster.jpg');
    await extractPoster(ctx.tools, topOutput, job.source.duration, poster);
    deliverables.posterKey = storageKeys.poster(job.id);
    await ctx.storage.putFile(deliverables.posterKey, poster, 'image/jpeg');
    const top = job.ladder[0]!;
    const grid = thumbnailGrid(job.source.duration, top.width, top.height);
    const sprite = path.join(dir, 'thumbnails.jpg');
    await extractThumbnailSprite(ctx.tools, topOutput, grid, sprite);
    const key = storageKeys.thumbnails(job.id);
    await ctx.storage.putFile(key, sprite, 'image/jpeg');
    deliverables.thumbnails = { key, ...grid };
  }

  await failpoint(ctx.config.failpoints, 'merge.after-upload', ctx.logger);
  if (!(await transitionJob(ctx.db, job.id, ['merging'], 'done', { outputs, deliverables }))) {
    // Canceled meanwhile: what we uploaded belongs to nobody.
    for (const o of outputs) await ctx.storage.remove(o.key);
    await removeDeliverables(ctx.storage, job.id);
  }
}

async function removeDeliverables(storage: Storage, jobId: string): Promise<void> {
  await storage.removePrefix(storageKeys.deliverablesPrefix(jobId));
}

function hlsContentType(file: string): string {
  if (file.endsWith('.m3u8')) return 'application/vnd.apple.mpegurl';
  if (file.endsWith('.m4s')) return 'video/iso.segment';
  return 'video/mp4';
}
