/**
 * The most bytes an honest segment of one rung can weigh: the coordinator
 * signs each segment upload for at most this (and refuses a larger segment
 * before downloading it); the native worker stops an ffmpeg whose output
 * grows past it.
 *
 * The size bound comes from x264's rate control as the tab runs it (CRF with
 * `-maxrate`/`-bufsize`, shared/src/x264-args.ts): the VBV model keeps the
 * bits of any stretch of frames within `bufsize + maxrate × its duration`, and
 * every single frame within `bufsize`. The chunk's duration is not in the
 * task, so the bound takes the smaller of `frames × bufsize` and
 * `bufsize + maxrate × frames / 1 fps` (no source we accept runs slower than
 * 1 fps), plus room for the MP4 container. Loose (a 4 s 720p chunk of 120
 * frames may weigh at most ~47 MB; honest ones weigh ~1 MB) but it bounds what
 * one lease can write, where before any URL took 1 GiB.
 */
import type { EncodeParams } from './protocol.js';

/** moov/moof boxes, sample tables, SEI: generous for a few hundred frames. */
const CONTAINER_BYTES = 1024 * 1024;

export function maxSegmentBytes(params: Pick<EncodeParams, 'frames' | 'maxrateKbps' | 'bufsizeKbps'>): number {
  const perFrameBound = params.frames * params.bufsizeKbps;
  const vbvBound = params.bufsizeKbps + params.maxrateKbps * params.frames;
  return Math.ceil((Math.min(perFrameBound, vbvBound) * 1000) / 8) + CONTAINER_BYTES;
}
