/**
 * Quality of a merged rendition against what the tabs were given: SSIM and
 * PSNR per frame (ffmpeg's `ssim` and `psnr` filters), the reference scaled
 * to the rendition's size with the tab's own filter chain (`videoFilter`
 * from @tabgrid/shared: rotation, `scale=W:H` with swscale's default
 * bicubic, square pixels, 4:2:0), summarised overall and split into frames
 * next to chunk boundaries (the first and last frame of every chunk: where
 * per-chunk encoding could hurt, an IDR with no references and a
 * rate-control restart) and the rest.
 *
 * The reference is the concatenation of the split's chunks, i.e. exactly
 * the frames the tabs encoded (the source itself, or its mezzanine when it
 * was normalised). A single-pass native libx264 encode of that whole input
 * with the tab's own flags for the same EncodeParams (`videoEncodeFlags`),
 * measured the same way, shows what chunking costs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { type EncodeParams, type QualitySummary, videoEncodeFlags, videoFilter } from '@tabgrid/shared';
import { runTool, type MediaTools } from './tools.js';

export interface FrameScores {
  ssim: number[];
  /** Mean squared error per frame (all planes, weighted as ffmpeg's psnr_avg). */
  mse: number[];
}

const quote = (p: string) => `'${p.replace(/'/g, "'\\''")}'`;

/** A concat-demuxer list of the chunk files, the reference input. */
export async function writeConcatList(listFile: string, files: readonly string[]): Promise<void> {
  await writeFile(listFile, files.map((f) => `file ${quote(f)}\n`).join(''));
}

function inputArgs(input: string): string[] {
  return input.endsWith('.txt') ? ['-f', 'concat', '-safe', '0', '-i', input] : ['-i', input];
}

/** Per-frame SSIM and MSE of `distorted` against `reference` (a file, or a concat list ending in .txt). */
export async function frameScores(
  tools: MediaTools,
  opts: {
    distorted: string;
    reference: string;
    params: Pick<EncodeParams, 'width' | 'height' | 'rotation'>;
    statsDir: string;
    frames?: number;
  },
): Promise<FrameScores> {
  const ssimLog = `${opts.statsDir}/ssim.log`;
  const psnrLog = `${opts.statsDir}/psnr.log`;
  // Paired by frame index, not timestamp: every output frame is its input
  // frame (same count, same order), while the concatenated chunks' timestamps
  // do not line up with the merged output's (the first chunk may start at
  // ~0.066 s; measured: pairing by pts compared shifted frames, ~22 dB).
  const byIndex = 'settb=1/1000,setpts=N*40';
  const graph = [
    // `frames`: the reference is a prefix of the chunks (quality-step.ts measures a window).
    `[0:v]${opts.frames ? `trim=end_frame=${opts.frames},` : ''}${byIndex},format=yuv420p,split[d1][d2]`,
    `[1:v]${byIndex},${videoFilter(opts.params)},split[r1][r2]`,
    `[d1][r1]ssim=stats_file=${ssimLog}`,
    `[d2][r2]psnr=stats_file=${psnrLog}`,
  ].join(';');
  await runTool(
    tools.ffmpeg,
    [
      '-v',
      'error',
      '-nostdin',
      '-noautorotate',
      '-i',
      opts.distorted,
      '-noautorotate',
      ...inputArgs(opts.reference),
      '-lavfi',
      graph,
      '-fps_mode',
      'passthrough',
      '-f',
      'null',
      '-',
    ],
    { timeoutMs: 60 * 60_000 },
  );
  const ssim = (await readFile(ssimLog, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(/All:([\d.]+)/.exec(l)?.[1]));
  const mse = (await readFile(psnrLog, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(/mse_avg:([\d.]+)/.exec(l)?.[1]));
  if (ssim.some((x) => !Number.isFinite(x)) || mse.some((x) => !Number.isFinite(x))) throw new Error('unparsable ssim/psnr stats');
  return { ssim, mse };
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
/** PSNR of a mean MSE, 8-bit; capped at 100 dB for identical pictures (as ffmpeg prints inf). */
const psnrOf = (mse: number) => (mse > 0 ? Math.min(100, 10 * Math.log10((255 * 255) / mse)) : 100);
const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** Frames that are the first or last frame of a chunk. */
export function boundaryFrames(chunkFrames: readonly number[]): Set<number> {
  const out = new Set<number>();
  let start = 0;
  for (const n of chunkFrames) {
    out.add(start);
    out.add(start + n - 1);
    start += n;
  }
  return out;
}

export function summarise(scores: FrameScores, chunkFrames: readonly number[]): QualitySummary {
  const boundary = boundaryFrames(chunkFrames);
  const pick = (xs: number[], inB: boolean) => xs.filter((_, i) => boundary.has(i) === inB);
  return {
    ssim: round(mean(scores.ssim), 5),
    psnr: round(psnrOf(mean(scores.mse)), 3),
    boundarySsim: round(mean(pick(scores.ssim, true)), 5),
    interiorSsim: round(mean(pick(scores.ssim, false)), 5),
    boundaryPsnr: round(psnrOf(mean(pick(scores.mse, true))), 3),
    interiorPsnr: round(psnrOf(mean(pick(scores.mse, false))), 3),
    frames: scores.ssim.length,
  };
}

/** The single-pass reference's argv: the whole input through libx264 with exactly the tab's filter chain and encoder flags. */
export function referenceArgs(opts: { input: string; params: EncodeParams; out: string }): string[] {
  // No -threads: native x264 picks its own; the tab's explicit count only
  // works around the wasm multi-thread core.
  return [
    '-v',
    'error',
    '-nostdin',
    '-y',
    '-noautorotate',
    ...inputArgs(opts.input),
    ...videoEncodeFlags(opts.params),
    '-f',
    'mp4',
    opts.out,
  ];
}

/** The single-pass reference: the whole input through native libx264 with the tab's settings. */
export async function encodeReference(tools: MediaTools, opts: { input: string; params: EncodeParams; out: string }): Promise<void> {
  await runTool(tools.ffmpeg, referenceArgs(opts), { timeoutMs: 60 * 60_000 });
}
