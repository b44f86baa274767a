/**
 * Checks an uploaded segment against what the tab claimed and what the task
 * requires, in order: size and sha256 of the stored bytes (the transfer),
 * a full decode (inspect-segment.ts: H.264 4:2:0, exact size, exact frame
 * count, no decode error), then its content against the chunk the tab was
 * given (media/content-check.ts). A segment that passes is copied, from the
 * very bytes that were checked, to a key no presigned URL can write
 * (storage/keys.ts verifiedSegment): the tab's own upload key stays
 * writable for as long as its URL lives.
 *
 * Throws when the check itself cannot run (storage down, ffmpeg missing or
 * killed): the caller then blames nobody.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { EncodeParams } from '@tabgrid/shared';
import { judgeContent, measureContent, type WorstScores } from '../media/content-check.js';
import { inspectSegment } from '../media/inspect-segment.js';
import type { MediaTools } from '../media/tools.js';
import type { Storage } from '../storage/storage.js';
import { maxSegmentBytes } from './segment-limits.js';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export type SegmentCheck =
  | {
      ok: true;
      /** Where the checked bytes now live, out of every tab's reach. */
      protectedKey: string;
      /** sha256 of those bytes (the tab's claim, verified). */
      sha256: string;
      framesSha256: string;
      /** The first 16 hex digits of each decoded frame's sha256. */
      frameHashes: string[];
      worst: WorstScores;
      /** Wall time of the content check alone (decode both, measure), ms. */
      contentMs: number;
    }
  | {
      ok: false;
      reason: string;
      /**
       * Whose fault:
       *   transfer  nothing uploaded, a size or hash that does not match the
       *             tab's word: a transfer can go wrong (an ordinary failure);
       *   format    not H.264 4:2:0 at the rung's size with the chunk's frame
       *             count, or undecodable: no honest encoder makes that,
       *             whatever the content (the worker is caught);
       *   content   decodes as asked but scores below the rung's thresholds:
       *             the worker's fault, or a source no encoder can carry at
       *             the rung's bitrate cap (caught once another worker's
       *             segment of the chunk passes).
       */
      fault: 'transfer' | 'format' | 'content';
      /** sha256 of the stored bytes, when they were read. */
      sha256?: string;
      /** The worst frame scores, for a content fault. */
      worst?: WorstScores;
    };

export async function verifySegment(
  deps: { storage: Storage; tools: MediaTools; scratchDir: string },
  opts: { key: string; size: number; sha256: string; params: EncodeParams; chunkKey: string; protectedKey: string },
): Promise<SegmentCheck> {
  const info = await deps.storage.stat(opts.key);
  if (!info) return { ok: false, fault: 'transfer', reason: 'no segment was uploaded to the presigned URL' };
  if (info.size !== opts.size) {
    return { ok: false, fault: 'transfer', reason: `stored segment is ${info.size} bytes, the tab reported ${opts.size}` };
  }
  // The embedded gateway refuses such a PUT; an external S3 takes it, so it is
  // refused here before a byte of it is downloaded (segment-limits.ts).
  const limit = maxSegmentBytes(opts.params);
  if (info.size > limit) {
    return {
      ok: false,
      fault: 'format',
      reason: `the segment is ${info.size} bytes, more than a ${opts.params.rendition} segment can weigh (${limit})`,
    };
  }
  await mkdir(deps.scratchDir, { recursive: true });
  const id = randomUUID();
  const file = path.join(deps.scratchDir, `${id}.mp4`);
  const chunk = path.join(deps.scratchDir, `${id}.chunk${path.extname(opts.chunkKey) || '.mkv'}`);
  try {
    await deps.storage.getToFile(opts.key, file);
    const digest = await sha256File(file);
    if (digest !== opts.sha256)
      return { ok: false, fault: 'transfer', reason: 'stored segment does not match the sha256 the tab reported' };
    const decoded = await inspectSegment(deps.tools, file, opts.params);
    if (!decoded.ok) return { ok: false, fault: 'format', reason: decoded.reason, sha256: digest };
    await deps.storage.getToFile(opts.chunkKey, chunk);
    const measured = await measureContent(deps.tools, { segment: file, chunk, params: opts.params });
    const verdict = judgeContent(measured, { rendition: opts.params.rendition, frames: opts.params.frames });
    if (!verdict.ok)
      return { ok: false, fault: 'content', reason: verdict.reason, sha256: digest, ...(verdict.worst ? { worst: verdict.worst } : {}) };
    await deps.storage.putFile(opts.protectedKey, file, 'video/mp4');
    return {
      ok: true,
      protectedKey: opts.protectedKey,
      sha256: digest,
      framesSha256: verdict.framesSha256,
      frameHashes: verdict.frameHashes.map((h) => h.slice(0, 16)),
      worst: verdict.worst,
      contentMs: measured.elapsedMs,
    };
  } finally {
    await rm(file, { force: true });
    await rm(chunk, { force: true });
  }
}
