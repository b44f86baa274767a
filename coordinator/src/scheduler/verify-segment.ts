/**
 * Checks an uploaded segment against what the tab claimed and what the task
 * requires: size, sha256 of the stored bytes, then a full decode.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { EncodeParams } from '@tabgrid/shared';
import { inspectSegment, type SegmentVerdict } from '../media/inspect-segment.js';
import type { MediaTools } from '../media/tools.js';
import type { Storage } from '../storage/storage.js';

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function verifySegment(
  deps: { storage: Storage; tools: MediaTools; scratchDir: string },
  opts: { key: string; size: number; sha256: string; params: EncodeParams },
): Promise<SegmentVerdict> {
  const info = await deps.storage.stat(opts.key);
  if (!info) return { ok: false, reason: 'no segment was uploaded to the presigned URL' };
  if (info.size !== opts.size) return { ok: false, reason: `stored segment is ${info.size} bytes, the tab reported ${opts.size}` };
  await mkdir(deps.scratchDir, { recursive: true });
  const file = path.join(deps.scratchDir, `${randomUUID()}.mp4`);
  try {
    await deps.storage.getToFile(opts.key, file);
    const digest = await sha256File(file);
    if (digest !== opts.sha256) return { ok: false, reason: 'stored segment does not match the sha256 the tab reported' };
    return await inspectSegment(deps.tools, file, opts.params);
  } finally {
    await rm(file, { force: true });
  }
}
