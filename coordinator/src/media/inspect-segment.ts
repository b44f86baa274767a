/**
 * Checks a segment a tab uploaded before it is accepted. Nothing from a
 * volunteer is trusted: the segment is decoded in full (ffprobe
 * -count_frames) and must be H.264 4:2:0 at exactly the rendition's size
 * with exactly the chunk's frame count, without a single decode error.
 *
 * ffprobe exiting with an error is a verdict on the file; ffprobe missing,
 * or killed by the timeout, is not (it throws: the check could not run, and
 * nobody is blamed for that).
 */
import type { EncodeParams } from '@tabgrid/shared';
import { MediaToolError } from '../errors.js';
import { runTool, type MediaTools } from './tools.js';

/** ffprobe ran and said no (runTool words an exit status "exit code N"); anything else means it did not run to the end. */
const failedOnTheFile = (err: unknown): boolean => err instanceof MediaToolError && /: exit code \d+/.test(err.message);

export type SegmentVerdict = { ok: true } | { ok: false; reason: string };

export async function inspectSegment(tools: MediaTools, file: string, expected: EncodeParams): Promise<SegmentVerdict> {
  let stdout: string;
  let stderr: string;
  try {
    ({ stdout, stderr } = await runTool(
      tools.ffprobe,
      [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-count_frames',
        '-show_entries',
        'stream=codec_name,width,height,pix_fmt,nb_read_frames',
        '-of',
        'json',
        file,
      ],
      { timeoutMs: 120_000 },
    ));
  } catch (err) {
    if (!failedOnTheFile(err)) throw err;
    return { ok: false, reason: `segment is not a readable video: ${(err as Error).message.slice(0, 300)}` };
  }
  if (stderr.trim()) return { ok: false, reason: `segment has decode errors: ${stderr.trim().slice(0, 300)}` };
  const s = (JSON.parse(stdout) as { streams?: Record<string, string | number>[] }).streams?.[0];
  if (!s) return { ok: false, reason: 'segment has no video stream' };
  if (s.codec_name !== 'h264') return { ok: false, reason: `segment codec is ${s.codec_name}, expected h264` };
  if (s.pix_fmt !== 'yuv420p') return { ok: false, reason: `segment pixel format is ${s.pix_fmt}, expected yuv420p` };
  if (s.width !== expected.width || s.height !== expected.height) {
    return { ok: false, reason: `segment is ${s.width}x${s.height}, expected ${expected.width}x${expected.height}` };
  }
  const frames = Number(s.nb_read_frames);
  if (frames !== expected.frames) return { ok: false, reason: `segment has ${frames} frames, the chunk has ${expected.frames}` };
  return { ok: true };
}
