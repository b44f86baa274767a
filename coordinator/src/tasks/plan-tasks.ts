/**
 * planTasks(job, manifest) → one queued task per chunk × rendition, with the
 * EncodeParams the tab must follow. Pure; the split step inserts what it
 * returns.
 */
import { randomUUID } from 'node:crypto';
import type { EncodeParams, Manifest, PlannedRendition } from '@tabgrid/shared';
import type { SourceMetadata } from '../db/schema.js';
import type { NewTask } from './task-table.js';

/**
 * x264 preset for tabs: veryfast keeps a 4 s 720p chunk → 480p at ~2.9 s in
 * single-thread ffmpeg.wasm on a 2-core machine (docs/media-facts.md, "ffmpeg.wasm").
 */
export const TAB_PRESET = 'veryfast';

export function planTasks(
  job: { id: string; source: Pick<SourceMetadata, 'rotation'>; ladder: readonly PlannedRendition[] },
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
      };
      return { id: randomUUID(), jobId: job.id, chunkIndex: c.index, rendition: r.name, params, chunkKey: c.key, chunkSize: c.size };
    }),
  );
}
