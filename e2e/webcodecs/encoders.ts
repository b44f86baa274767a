/**
 * The three encoders of one chunk, measured the same way: native x264 (the
 * tab's own argv, x264ChunkArgs), ffmpeg.wasm x264 and WebCodecs in real
 * Chromium (through the harness page), each segment scored against the
 * chunk as the coordinator's quality step does (media/quality.ts
 * frameScores: frames paired by index, the chunk through the tab's filter
 * chain, ffmpeg's ssim and psnr filters).
 *
 * nativeX264(chunk, params, dir) / inHarness(harness, kind, chunk, rungs)
 *   → Encoded[] (one per rung: time, bits, SSIM, PSNR)
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { frameScores } from '@tabgrid/coordinator/src/media/quality.js';
import { type EncodeParams, type PlannedRendition, webcodecsBitrateKbps, x264ChunkArgs } from '@tabgrid/shared';
import type { Harness, HarnessKind } from './harness-server.js';

const run = promisify(execFile);
const TOOLS = { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };

export interface Encoded {
  readonly rendition: string;
  readonly file: string;
  /** Wall time of the encode, ms (for a WebCodecs ladder: the whole call, all rungs from one decode). */
  readonly ms: number;
  readonly kbps: number;
  /** Mean SSIM (All: Y, U and V) and PSNR of the mean MSE, over every frame. */
  readonly ssim: number;
  readonly psnr: number;
}

export function x264Params(r: PlannedRendition, frames: number): EncodeParams {
  return {
    rendition: r.name,
    codec: 'h264',
    width: r.width,
    height: r.height,
    rotation: 0,
    crf: r.crf,
    maxrateKbps: r.maxrateKbps,
    bufsizeKbps: r.bufsizeKbps,
    preset: 'veryfast',
    frames,
    encoder: 'x264',
  };
}

/** A WebCodecs rung at `kbps`, or at the committed bits-per-pixel factor when none is given. */
export function webcodecsParams(r: PlannedRendition, frames: number, fps: number, kbps?: number): EncodeParams {
  return {
    ...x264Params(r, frames),
    encoder: 'webcodecs',
    bitrateKbps: kbps ?? webcodecsBitrateKbps(r.name, r.width, r.height, fps),
  };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * SSIM and PSNR at the source's own size: the segment scaled back up
 * (bicubic) against the chunk, frames paired by index. Scaler-neutral:
 * x264 is fed ffmpeg's bicubic downscale and WebCodecs scales inside the
 * browser's encoder, so against a bicubic downscale of the chunk (what the
 * content check and the quality step use) x264 would win by the scaler alone.
 */
async function scoreAtSourceSize(file: string, chunk: string, size: { width: number; height: number }, statsDir: string) {
  const byIndex = 'settb=1/1000,setpts=N*40';
  const graph = [
    `[0:v]${byIndex},scale=${size.width}:${size.height}:flags=bicubic,format=yuv420p,split[d1][d2]`,
    `[1:v]${byIndex},format=yuv420p,split[r1][r2]`,
    `[d1][r1]ssim=stats_file=${statsDir}/ssim.log`,
    `[d2][r2]psnr=stats_file=${statsDir}/psnr.log`,
  ].join(';');
  await run('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-i', chunk, '-lavfi', graph, '-f', 'null', '-']);
  const read = async (name: string, key: RegExp) =>
    (await readFile(`${statsDir}/${name}`, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => Number(key.exec(l)?.[1]));
  return { ssim: await read('ssim.log', /All:([\d.]+)/), mse: await read('psnr.log', /mse_avg:([\d.]+)/) };
}

/** Where SSIM and PSNR are measured: at the rung's size against the chunk scaled down (the coordinator's way, undefined), or at this source size. */
let scoreSize: { width: number; height: number } | undefined;
export function scoreAtSource(size: { width: number; height: number } | undefined): void {
  scoreSize = size;
}

export async function score(
  file: string,
  chunk: string,
  params: EncodeParams,
  seconds: number,
  ms: number,
): Promise<Omit<Encoded, 'rendition'>> {
  const statsDir = `${file}.stats`;
  await mkdir(statsDir, { recursive: true });
  const s = scoreSize
    ? await scoreAtSourceSize(file, chunk, scoreSize, statsDir)
    : await frameScores(TOOLS, { distorted: file, reference: chunk, params, statsDir });
  const mse = mean(s.mse);
  return {
    file,
    ms,
    kbps: ((await stat(file)).size * 8) / seconds / 1000,
    ssim: mean(s.ssim),
    psnr: mse > 0 ? Math.min(100, 10 * Math.log10((255 * 255) / mse)) : 100,
  };
}

/** Native ffmpeg with exactly the tab's x264 argv, one process per rung. */
export async function nativeX264(
  chunk: string,
  rungs: readonly EncodeParams[],
  dir: string,
  seconds: number,
  threads = 1,
): Promise<Encoded[]> {
  const out: Encoded[] = [];
  for (const p of rungs) {
    const file = path.join(dir, `native_${p.rendition}.mp4`);
    const t0 = performance.now();
    await run('ffmpeg', ['-v', 'error', '-y', ...x264ChunkArgs(p, { input: chunk, output: file, threads })]);
    out.push({ rendition: p.rendition, ...(await score(file, chunk, p, seconds, performance.now() - t0)) });
  }
  return out;
}

/** One harness call with every rung (WebCodecs: one decode for all; wasm: one exec per rung). */
export async function inHarness(
  harness: Harness,
  kind: HarnessKind,
  chunk: string,
  rungs: readonly EncodeParams[],
  seconds: number,
): Promise<Encoded[]> {
  const r = await harness.transcode(kind, chunk, rungs);
  if ('error' in r) throw new Error(`${kind}: ${r.error.code}: ${r.error.message}`);
  return Promise.all(rungs.map(async (p, i) => ({ rendition: p.rendition, ...(await score(r.segments[i]!, chunk, p, seconds, r.ms)) })));
}
