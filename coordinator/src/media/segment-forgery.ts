/**
 * Test and calibration helper: from one chunk, the segment an honest tab
 * makes and every kind of bad segment a lying or broken worker could upload,
 * each made with native ffmpeg. The integration tests, the calibration and
 * the end-to-end malicious worker all build their segments here, so each
 * attack is defined once.
 *
 * Every forgery except `wrong-rung` and `undecodable` is H.264 4:2:0 at the
 * rung's exact size with the chunk's exact frame count: what the decode
 * check (inspect-segment.ts) alone let through before the content check.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type EncodeParams, videoFilter, x264ChunkArgs, x264EncoderFlags } from '@tabgrid/shared';

const run = promisify(execFile);

export const FORGERIES = [
  /** What an honest single-thread tab makes: the tab's own argv, natively. */
  'honest',
  /**
   * Honest but from a weaker encoder: x264 Constrained Baseline, ultrafast,
   * at two thirds of the rung's bitrate cap. Stands in for WebCodecs'
   * OpenH264 (Baseline, bitrate modes only, ~1.5× x264's bitrate for equal
   * PSNR: docs/facts.md), which the content check must accept too.
   */
  'honest-weak',
  /** Black frames (the tab did not even download the chunk). */
  'black',
  /** The honest picture with a filled box over a sixteenth of it, somewhere off-centre. */
  'tampered',
  /** The same with a box of a 64th of the picture. */
  'tampered-small',
  /** The honest encode of a smaller rung (half the size): refused by size. */
  'wrong-rung',
  /** A smaller rung's encode scaled up to this rung's size (cheaper to make, right size, less detail). */
  'upscaled',
  /** A different clip at the right size and frame count. */
  'other-clip',
  /** The chunk's frames one later: the first dropped, the last repeated. */
  'shifted',
  /** An honest segment with the middle of its picture data overwritten with garbage. */
  'undecodable',
  /** The chunk encoded at CRF + 4: passes the content check, but its decoded frames differ from an honest replica's. */
  'different-encode',
] as const;
export type Forgery = (typeof FORGERIES)[number];

const quiet = ['-v', 'error', '-nostdin', '-y'];

/** libx264 flags with the tab's settings (and `crf` adjusted), into an MP4 whose timestamps start at 0. */
function encodeTail(params: EncodeParams, out: string): string[] {
  return [...x264EncoderFlags(params), '-threads', '1', '-fps_mode', 'passthrough', '-f', 'mp4', out];
}

/** Writes segment `kind` for `chunk` (as the task's `params` ask) to `out`. */
export async function forgeSegment(opts: { kind: Forgery; chunk: string; params: EncodeParams; out: string }): Promise<void> {
  const { kind, chunk, params, out } = opts;
  const { width: w, height: h, frames } = params;
  const input = ['-noautorotate', '-threads', '1', '-i', chunk, '-map', '0:v:0', '-an', '-sn', '-dn'];
  switch (kind) {
    case 'honest':
      await run('ffmpeg', [...quiet, ...x264ChunkArgs(params, { input: chunk, output: out, threads: 1 })]);
      return;
    case 'honest-weak': {
      const kbps = Math.round((params.maxrateKbps * 2) / 3);
      await run('ffmpeg', [
        ...quiet,
        ...input,
        '-vf',
        videoFilter(params),
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-profile:v',
        'baseline',
        '-b:v',
        `${kbps}k`,
        '-maxrate',
        `${params.maxrateKbps}k`,
        '-bufsize',
        `${params.bufsizeKbps}k`,
        '-threads',
        '1',
        '-fps_mode',
        'passthrough',
        '-f',
        'mp4',
        out,
      ]);
      return;
    }
    case 'black':
      await run('ffmpeg', [
        ...quiet,
        '-f',
        'lavfi',
        '-i',
        `color=c=black:size=${w}x${h}:rate=30`,
        '-frames:v',
        String(frames),
        '-vf',
        'format=yuv420p',
        ...encodeTail(params, out),
      ]);
      return;
    case 'tampered':
    case 'tampered-small': {
      const part = kind === 'tampered' ? 4 : 8;
      const box = `drawbox=x=${Math.round(w / 2)}:y=${Math.round(h / 3)}:w=${Math.round(w / part)}:h=${Math.round(h / part)}:color=red@1:t=fill`;
      await run('ffmpeg', [...quiet, ...input, '-vf', `${videoFilter(params)},${box}`, ...encodeTail(params, out)]);
      return;
    }
    case 'wrong-rung':
    case 'upscaled': {
      const small = { ...params, width: even(w / 2), height: even(h / 2) };
      const chain = kind === 'wrong-rung' ? videoFilter(small) : `${videoFilter(small)},scale=${w}:${h},setsar=1,format=yuv420p`;
      await run('ffmpeg', [...quiet, ...input, '-vf', chain, ...encodeTail(params, out)]);
      return;
    }
    case 'other-clip':
      await run('ffmpeg', [
        ...quiet,
        '-f',
        'lavfi',
        '-i',
        `mandelbrot=size=${w}x${h}:rate=30`,
        '-frames:v',
        String(frames),
        '-vf',
        'format=yuv420p',
        ...encodeTail(params, out),
      ]);
      return;
    case 'shifted':
      await run('ffmpeg', [
        ...quiet,
        ...input,
        '-vf',
        `trim=start_frame=1,setpts=PTS-STARTPTS,${videoFilter(params)},tpad=stop_mode=clone:stop=1`,
        ...encodeTail(params, out),
      ]);
      return;
    case 'undecodable': {
      await forgeSegment({ kind: 'honest', chunk, params, out });
      const bytes = await readFile(out);
      // The picture data (mdat) comes first, the index (moov) last: garble the middle of the pictures, keep the index.
      for (let i = Math.floor(bytes.length / 4); i < Math.floor(bytes.length / 2); i += 7) bytes[i] = (bytes[i]! * 31 + 17) & 0xff;
      await writeFile(out, bytes);
      return;
    }
    case 'different-encode':
      await run('ffmpeg', [
        ...quiet,
        ...input,
        '-vf',
        videoFilter(params),
        ...encodeTail({ ...params, crf: Math.min(51, params.crf + 4) }, out),
      ]);
      return;
  }
}

const even = (x: number) => Math.max(2, Math.round(x / 2) * 2);

/** A test chunk: `seconds` of a lavfi source as H.264 (CRF 14, one GOP), video only, in Matroska as the split makes them. */
export async function makeTestChunk(opts: {
  out: string;
  source: string;
  width: number;
  height: number;
  frames: number;
  vf?: string;
}): Promise<void> {
  await run('ffmpeg', [
    ...quiet,
    '-f',
    'lavfi',
    '-i',
    `${opts.source}${opts.source.includes('=') ? ':' : '='}size=${opts.width}x${opts.height}:rate=30`,
    '-frames:v',
    String(opts.frames),
    ...(opts.vf ? ['-vf', opts.vf] : []),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '14',
    '-g',
    String(opts.frames),
    '-pix_fmt',
    'yuv420p',
    '-f',
    'matroska',
    opts.out,
  ]);
}
