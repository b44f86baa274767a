/**
 * planTasks(job, manifest) → one queued task per chunk × rendition, with the
 * EncodeParams the tab must follow. Pure; the split step inserts what it
 * returns.
 *
 * Every task of the job gets the one encoder the job resolved to
 * (shared/src/encoder-choice.ts): x264 by CRF with a peak cap, or WebCodecs
 * at the bitrate calibrated to match x264's SSIM at that rung.
 */
import { randomUUID } from 'node:crypto';
import { type EncodeParams, type Manifest, type PlannedRendition, type TaskEncoder, webcodecsBitrateKbps } from '@tabgrid/shared';
import type { SourceMetadata } from '../db/schema.js';
import type { NewTask } from './task-table.js';

/**
 * x264 preset for tabs: veryfast keeps a 4 s 720p chunk → 480p at ~2.9 s in
 * single-thread ffmpeg.wasm on a 2-core machine (docs/facts.md, "ffmpeg.wasm").
 */
export const TAB_PRESET = 'veryfast';

export function planTasks(
  job: { id: string; source: Pick<SourceMetadata, 'rotation' | 'fps'>; ladder: readonly PlannedRendition[]; encoder: TaskEncoder },
  manifest: Pick<Manifest, 'chunks'>,
): NewTask[] {
  return manifest.chunks.flatMap((c) =>
    job.ladder.map((r) => {
      const params: EncodeParams = {
        rendition: r.name,
        codec: 'h264',
        width: r.width,
        height: r.height,
        rotation: job.source.rotation,
        crf: r.crf,
        maxrateKbps: r.maxrateKbps,
        bufsizeKbps: r.bufsizeKbps,
        preset: TAB_PRESET,
        frames: c.frames,
        encoder: job.encoder,
        ...(job.encoder === 'webcodecs' ? { bitrateKbps: webcodecsBitrateKbps(r.name, r.width, r.height, job.source.fps) } : {}),
      };
      return {
        id: randomUUID(),
        jobId: job.id,
        chunkIndex: c.index,
        rendition: r.name,
        params,
        encoder: job.encoder,
        chunkKey: c.key,
        chunkSize: c.size,
      };
    }),
  );
}
