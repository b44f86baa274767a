/**
 * Which encoder makes a job's renditions, and at what bitrate WebCodecs runs.
 *
 * A job asks for `x264`, `webcodecs` or `auto` (JobEncoderSetting); the
 * coordinator resolves it once, when it plans the tasks, to one TaskEncoder
 * for all of the job's renditions, and pins it on every task: the merge
 * joins a rendition's segments with a stream copy, which needs one codec
 * configuration per rendition, so x264 and OpenH264 segments never mix.
 *
 * Pure: no I/O. The coordinator (tasks/plan-tasks.ts) and the bench import it.
 */
import { z } from 'zod';
import type { RenditionName } from './ladder.js';

export const JOB_ENCODER_SETTINGS = ['x264', 'webcodecs', 'auto'] as const;
export const jobEncoderSettingSchema = z.enum(JOB_ENCODER_SETTINGS);
/** What a job asks for: `auto` lets the coordinator choose (resolveEncoder). */
export type JobEncoderSetting = z.infer<typeof jobEncoderSettingSchema>;

export const TASK_ENCODERS = ['x264', 'webcodecs'] as const;
export const taskEncoderSchema = z.enum(TASK_ENCODERS);
/** What a task is pinned to. */
export type TaskEncoder = z.infer<typeof taskEncoderSchema>;

/** The worker capability (hello's `encoders`) that may take tasks of each encoder. */
export const WORKER_KINDS_FOR: { readonly [E in TaskEncoder]: readonly string[] } = {
  x264: ['wasm-x264', 'native-x264'],
  webcodecs: ['webcodecs-h264'],
};

/**
 * Bits per pixel per frame that WebCodecs (OpenH264, Constrained Baseline,
 * variable bitrate) needs per rung for the SSIM x264 reaches at CRF 23
 * veryfast on the same chunk. Measured by
 * `e2e/webcodecs/calibrate.ts` (docs/facts.md, "WebCodecs bitrate
 * calibration"); rungs it did not measure take the nearest measured one's.
 */
export const WEBCODECS_BITS_PER_PIXEL: { readonly [R in RenditionName]: number } = {
  '2160p': 0.06,
  '1440p': 0.06,
  '1080p': 0.06,
  '720p': 0.07,
  '480p': 0.09,
  '360p': 0.1,
  '240p': 0.1,
};

/** Average bitrate (kbit/s) for a WebCodecs rung: bits per pixel × pixels × frame rate. */
export function webcodecsBitrateKbps(rendition: RenditionName, width: number, height: number, fps: number): number {
  const rate = Number.isFinite(fps) && fps > 0 ? Math.min(fps, 240) : 30;
  const kbps = Math.round((WEBCODECS_BITS_PER_PIXEL[rendition] * width * height * rate) / 1000);
  return Math.min(200_000, Math.max(50, kbps));
}

/** Connected, unquarantined workers, counted by whether they reported `webcodecs-h264`. */
export interface WorkerCensus {
  readonly webcodecs: number;
  readonly total: number;
}

/** What the tabs will decode: the chunks' codec and pixel format (ffprobe's names). */
export interface ChunkFormat {
  readonly codec: string;
  readonly pixFmt?: string;
}

/**
 * `auto` chooses WebCodecs when at least half of the connected workers (and
 * at least one) can run it and the chunks are 8-bit 4:2:0 H.264, the input
 * every browser's decoder takes (Chromium's refuses HEVC without a GPU, and
 * browsers differ on 10-bit and 4:4:4); otherwise x264, which every tab runs.
 * WebCodecs is several times faster per chunk (the browser's own decoder
 * and a native encoder instead of wasm) but needs about twice x264's bits
 * for the same SSIM, and a job pinned to it waits for WebCodecs tabs, so it
 * is chosen only where enough tabs would share the work.
 */
export function resolveEncoder(setting: JobEncoderSetting, census: WorkerCensus, chunks: ChunkFormat): TaskEncoder {
  if (setting !== 'auto') return setting;
  const enough = census.webcodecs >= 1 && census.webcodecs * 2 >= census.total;
  const decodable = chunks.codec === 'h264' && ['yuv420p', 'yuvj420p', undefined].includes(chunks.pixFmt);
  return enough && decodable ? 'webcodecs' : 'x264';
}
