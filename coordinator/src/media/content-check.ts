/**
 * The content check: does a segment show the chunk the tab was given, at
 * the rung's size? Works for every encoder kind (ffmpeg.wasm x264,
 * WebCodecs, native), because it looks only at decoded pictures.
 *
 * One ffmpeg run decodes the segment and the chunk, puts the chunk through
 * the tab's own filter chain (`videoFilter`: rotation, scale, square pixels,
 * 4:2:0), pairs the frames by index (timestamps do not line up: the chunk
 * may start at ~0.066 s; media/quality.ts measured pairing by pts comparing
 * shifted frames at ~22 dB) and stacks each pair into one raw frame, which
 * frame-compare.ts measures as it streams out: per-frame PSNR, SSIM, the
 * worst tile's PSNR, the one-frame-shift test, and a sha256 per decoded
 * segment frame for replica votes.
 *
 * The thresholds are per rung, calibrated over honest encodes of varied
 * generated content (docs/facts.md, "Content check";
 * `tsx coordinator/src/media/calibrate-content-check.ts` measures them again).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type EncodeParams, type RenditionName, videoFilter } from '@tabgrid/shared';
import { MediaToolError } from '../errors.js';
import { type FrameMeasure, FrameComparer } from './frame-compare.js';
import type { MediaTools } from './tools.js';

export interface ContentThresholds {
  /** Lowest per-frame luma SSIM accepted. */
  readonly ssim: number;
  /** Lowest per-frame PSNR (dB, all planes) accepted. */
  readonly psnr: number;
  /** Lowest PSNR (dB) of the worst tile of a frame accepted. */
  readonly tilePsnr: number;
}

/**
 * Per rung, from the calibration in docs/facts.md ("Content check"): honest
 * encodes (the tab's x264 arguments, and a weaker Baseline encoder at 2/3 of
 * the rung's bitrate standing in for WebCodecs) of motion, heavy noise, a
 * dark low-contrast scene, a flat slow gradient, scrolling screen text and a
 * still picture never went below (worst frame, any content)
 *   1080p SSIM 0.304  PSNR 25.7 dB  worst tile 20.6 dB
 *   720p  SSIM 0.285  PSNR 24.9 dB  worst tile 20.3 dB   (heavy noise)
 *   480p  SSIM 0.614  PSNR 30.7 dB  worst tile 23.8 dB
 *   360p  SSIM 0.763  PSNR 33.3 dB  worst tile 27.6 dB
 *   240p  SSIM 0.881  PSNR 32.1 dB  worst tile 24.4 dB
 * while the closest attacks reached PSNR 17.4 dB (black frames over the dark
 * flat gradient), worst tile 15.1 dB (a box over a 64th of the picture, on
 * the same), other clips ≤ 10.7 dB. PSNR 20 dB and worst tile 17 dB sit in
 * between at every rung (≥ 2.6 / 1.9 dB above the attacks, ≥ 4.9 / 3.3 dB
 * under honest work); SSIM, which noise drags down in honest encodes, only
 * backs them up. 1440p and 2160p were not measured (too slow on 2 cores):
 * they use 1080p's. Content no encoder carries at the rung's bitrate cap
 * (random cellular detail: honest worst frames 10.7–17 dB, like black)
 * is refused at every rung; see complete-segment.ts for why that catches
 * nobody.
 */
export const CONTENT_THRESHOLDS: { readonly [R in RenditionName]: ContentThresholds } = {
  '2160p': { ssim: 0.2, psnr: 20, tilePsnr: 17 },
  '1440p': { ssim: 0.2, psnr: 20, tilePsnr: 17 },
  '1080p': { ssim: 0.2, psnr: 20, tilePsnr: 17 },
  '720p': { ssim: 0.2, psnr: 20, tilePsnr: 17 },
  '480p': { ssim: 0.45, psnr: 20, tilePsnr: 17 },
  '360p': { ssim: 0.55, psnr: 20, tilePsnr: 17 },
  '240p': { ssim: 0.6, psnr: 20, tilePsnr: 17 },
};

/**
 * A segment whose error against the chunk's neighbouring frames is less
 * than this share of its error against its own frames (luma, summed over
 * the segment) is shifted by a frame. Measured (docs/facts.md): honest
 * encodes ≥ 0.81 (≈ 1 on a still picture or a slow gradient, where a shift
 * is invisible and harmless; 2–390 on moving content); one-frame shifts of
 * moving content ≤ 0.48 (heavy noise; 0.00–0.09 otherwise).
 */
export const SHIFT_RATIO = 0.6;

export interface ContentMeasurement {
  readonly frames: readonly FrameMeasure[];
  /** Wall time of the decode and measurement, ms. */
  readonly elapsedMs: number;
}

export interface WorstScores {
  readonly ssim: number;
  readonly psnr: number;
  readonly tilePsnr: number;
}

export type ContentVerdict =
  | { ok: true; worst: WorstScores; framesSha256: string; frameHashes: string[] }
  | { ok: false; reason: string; worst?: WorstScores };

/** Longest a content check may take: a 4 s 1080p chunk takes ~2 s on one core; the cap only stops a stuck run. */
const CHECK_TIMEOUT_MS = 5 * 60_000;
const STDERR_CAP = 16 * 1024;

/**
 * Decodes `segment` and `chunk`, pairs their frames by index and measures
 * each pair. Throws MediaToolError when ffmpeg fails or times out (the check
 * could not run: the caller blames nobody), never for what the pictures show.
 */
export async function measureContent(
  tools: MediaTools,
  opts: { segment: string; chunk: string; params: Pick<EncodeParams, 'width' | 'height' | 'rotation'>; timeoutMs?: number },
): Promise<ContentMeasurement> {
  const started = performance.now();
  const { width, height } = opts.params;
  const byIndex = 'settb=1/1000,setpts=N*40';
  const graph = [
    `[0:v]${byIndex},setsar=1,format=yuv420p[seg]`,
    `[1:v]${byIndex},${videoFilter(opts.params)}[ref]`,
    // shortest=1: a segment with fewer frames than the chunk ends the stack (inspect-segment.ts already demands the count).
    '[seg][ref]vstack=inputs=2:shortest=1[out]',
  ].join(';');
  const args = [
    '-v',
    'error',
    '-nostdin',
    '-noautorotate',
    '-i',
    opts.segment,
    '-noautorotate',
    '-i',
    opts.chunk,
    '-filter_complex',
    graph,
    '-map',
    '[out]',
    '-fps_mode',
    'passthrough',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'yuv420p',
    'pipe:1',
  ];
  const comparer = new FrameComparer(width, height);
  const frames: FrameMeasure[] = [];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(tools.ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const frame = Buffer.alloc(comparer.stackedBytes);
    let filled = 0;
    child.stdout.on('data', (data: Buffer) => {
      let offset = 0;
      while (offset < data.length) {
        const n = Math.min(data.length - offset, frame.length - filled);
        data.copy(frame, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === frame.length) {
          frames.push(comparer.measure(frame));
          filled = 0;
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_CAP);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? CHECK_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new MediaToolError(tools.ffmpeg, `could not run the content check: ${err.message}`, ''));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else {
        const why = signal ? `killed by ${signal} (timeout?)` : `exit code ${code}`;
        reject(new MediaToolError(tools.ffmpeg, `content check ${why}: ${stderr.trim().slice(-2000) || '(no output)'}`, stderr));
      }
    });
  });
  return { frames, elapsedMs: performance.now() - started };
}

const fmt = (x: number, digits: number) => x.toFixed(digits);

/**
 * Judges a measurement against the rung's thresholds and the expected frame
 * count. A refusal names the worst frame (1-based, of the total) and its
 * score next to the threshold it missed.
 */
export function judgeContent(
  m: ContentMeasurement,
  opts: { rendition: RenditionName; frames: number; thresholds?: ContentThresholds },
): ContentVerdict {
  const t = opts.thresholds ?? CONTENT_THRESHOLDS[opts.rendition];
  const n = m.frames.length;
  if (n !== opts.frames) return { ok: false, reason: `only ${n} of the segment's frames pair with the chunk's ${opts.frames}` };
  const worstOf = (key: 'ssim' | 'psnr' | 'tilePsnr') => {
    let at = 0;
    for (let i = 1; i < n; i++) if (m.frames[i]![key] < m.frames[at]![key]) at = i;
    return { at, value: m.frames[at]![key] };
  };
  const ssim = worstOf('ssim');
  const psnr = worstOf('psnr');
  const tile = worstOf('tilePsnr');
  const rung = `${opts.rendition}'s threshold`;
  const worst = { ssim: ssim.value, psnr: psnr.value, tilePsnr: tile.value };
  if (ssim.value < t.ssim) {
    return {
      ok: false,
      worst,
      reason: `frame ${ssim.at + 1} of ${n} does not show the chunk: SSIM ${fmt(ssim.value, 3)} is below ${rung} ${fmt(t.ssim, 3)}`,
    };
  }
  if (psnr.value < t.psnr) {
    return {
      ok: false,
      worst,
      reason: `frame ${psnr.at + 1} of ${n} does not show the chunk: PSNR ${fmt(psnr.value, 1)} dB is below ${rung} ${fmt(t.psnr, 1)} dB`,
    };
  }
  if (tile.value < t.tilePsnr) {
    return {
      ok: false,
      worst,
      reason: `frame ${tile.at + 1} of ${n} differs from the chunk in part of the picture: its worst tile's PSNR ${fmt(tile.value, 1)} dB is below ${rung} ${fmt(t.tilePsnr, 1)} dB`,
    };
  }
  const shift = shiftRatio(m.frames);
  if (shift.ratio < SHIFT_RATIO) {
    return {
      ok: false,
      worst,
      reason: `the segment's frames match the chunk's shifted by one (${shift.direction}): error against the neighbouring frames is ${fmt(shift.ratio, 2)} of the error against their own (threshold ${SHIFT_RATIO})`,
    };
  }
  const frameHashes = m.frames.map((f) => f.hash);
  return {
    ok: true,
    worst,
    framesSha256: framesDigest(frameHashes),
    frameHashes,
  };
}

/**
 * How much better the segment matches the chunk one frame off than in step:
 * neighbour error / own error over frames 1..n-1, the smaller of the two
 * directions. ∞ when the own error is 0 (identical pictures).
 */
export function shiftRatio(frames: readonly FrameMeasure[]): { ratio: number; direction: 'a frame late' | 'a frame early' } {
  let own = 0;
  let back = 0;
  let ahead = 0;
  for (let i = 1; i < frames.length; i++) {
    const f = frames[i]!;
    // Own error of the pair each neighbour test compares against: frame i for `back`, frame i-1 for `ahead`.
    own += (f.own + frames[i - 1]!.own) / 2;
    back += f.shiftBack ?? 0;
    ahead += f.shiftAhead ?? 0;
  }
  if (own === 0) return { ratio: Number.POSITIVE_INFINITY, direction: 'a frame late' };
  // segment i ≈ reference i-1: the segment runs a frame late; segment i-1 ≈ reference i: a frame early.
  return back <= ahead ? { ratio: back / own, direction: 'a frame late' } : { ratio: ahead / own, direction: 'a frame early' };
}

/** One digest of a segment's per-frame hashes, in order: equal exactly when every decoded frame is. */
export function framesDigest(frameHashes: readonly string[]): string {
  return createHash('sha256').update(frameHashes.join('\n')).digest('hex');
}
