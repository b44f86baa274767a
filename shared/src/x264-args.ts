/**
 * EncodeParams → ffmpeg arguments, for any ffmpeg with libx264: the tab's
 * wasm cores, the scripted native worker and the bench run `x264ChunkArgs`;
 * the coordinator's single-pass quality reference runs `videoEncodeFlags`
 * on the whole input and measures with `videoFilter`. The reference is only
 * a fair comparison while it encodes exactly as the tabs do, hence one
 * definition here. Pure: no I/O, no globals.
 *
 * The coordinator cuts sources into video-only Matroska chunks with
 * timestamps reset to ~0 and merges the segments we return with the concat
 * demuxer. That merge is only exact when every segment holds exactly the
 * chunk's frames, in order, with timestamps starting at 0 (measured: a
 * one-frame shift drops per-frame PSNR from ≥ 40 dB to ~24 dB, and
 * `-output_ts_offset` turned a 12 s source into 16 s with no warning), so
 * every flag below that touches timing is there for that reason.
 *
 * Checked in Chromium 156 (web-worker-client/scripts/browser-check.mjs) on
 * a 4 s 1280x720 30 fps chunk → 854x480 and, rotated 90°, 480x854: h264
 * High, 120/120 frames, start 0, clean decode. With native ffmpeg 5.1 (same
 * FFmpeg as the core) a chunk whose timestamps start at 0.067 s also comes
 * out at 0. Single-thread core: 3.3 s first exec, 2.9 s steady; core-mt
 * with -threads 2: 2.3 s first, 1.7 s steady (2 cores).
 */
import type { EncodeParams } from './protocol.js';

export interface X264ChunkArgsOptions {
  /** MEMFS (or file system) path of the chunk. */
  readonly input: string;
  /** Path the MP4 segment is written to. */
  readonly output: string;
  /**
   * Encoder and decoder threads. Always explicit: on the wasm multi-thread
   * core x264's default thread count crashes Chromium ("function signature
   * mismatch"), while 1..4 work. 1 for the single-thread core.
   */
  readonly threads: number;
  /** The most threads allowed: X264_MAX_THREADS for the wasm cores (default), NATIVE_X264_MAX_THREADS for native ffmpeg. */
  readonly maxThreads?: number;
}

/** Above 4 threads the wasm multi-thread core was never measured to work. */
export const X264_MAX_THREADS = 4;
/** Native ffmpeg has no such limit; this is the most a worker may report in hello (capabilities.threads). */
export const NATIVE_X264_MAX_THREADS = 64;

/** The filter chain: rotation first (it changes which side is the width), then size, square pixels, 4:2:0. */
export function videoFilter(params: Pick<EncodeParams, 'width' | 'height' | 'rotation'>): string {
  const rotate: Record<EncodeParams['rotation'], string[]> = {
    0: [],
    90: ['transpose=clock'],
    180: ['hflip', 'vflip'],
    270: ['transpose=cclock'],
  };
  return [...rotate[params.rotation], `scale=${params.width}:${params.height}`, 'setsar=1', 'format=yuv420p'].join(',');
}

/** libx264 and its rate control, from EncodeParams. */
export function x264EncoderFlags(params: EncodeParams): string[] {
  return [
    '-c:v',
    'libx264',
    '-preset',
    params.preset,
    '-crf',
    String(params.crf),
    '-maxrate',
    `${params.maxrateKbps}k`,
    '-bufsize',
    `${params.bufsizeKbps}k`,
    '-profile:v',
    'high',
  ];
}

/**
 * Output options from stream selection to the encoder: the first video
 * stream only, the filter chain, every frame once, x264. Whoever runs them
 * also passes `-noautorotate` before the input, as videoFilter applies the
 * rotation itself.
 */
export function videoEncodeFlags(params: EncodeParams): string[] {
  return [
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    '-vf',
    videoFilter(params),
    // Every input frame out exactly once, in order: no frame-rate conversion
    // drops or duplicates. The wasm cores are FFmpeg 5.1, which has
    // -fps_mode (it logs "-vsync … deprecated, use -fps_mode").
    '-fps_mode',
    'passthrough',
    ...x264EncoderFlags(params),
  ];
}

function checkThreads(threads: number, max = X264_MAX_THREADS): string {
  if (!Number.isInteger(threads) || threads < 1 || threads > max) {
    throw new RangeError(`threads must be an integer in 1..${max}, got ${threads}`);
  }
  return String(threads);
}

/** The whole argv for one chunk → one MP4 segment, as the tab runs it. */
export function x264ChunkArgs(params: EncodeParams, opts: X264ChunkArgsOptions): string[] {
  const threads = checkThreads(opts.threads, opts.maxThreads);
  return [
    '-hide_banner',
    // Rotation metadata in chunks is not trusted (see EncodeParams.rotation);
    // the coordinator tells us the rotation and we apply it ourselves.
    '-noautorotate',
    '-threads',
    threads,
    '-i',
    opts.input,
    ...videoEncodeFlags(params),
    '-threads',
    threads,
    // Timestamps start at 0 because ffmpeg subtracts the input's start time
    // by default (no -copyts); -output_ts_offset must never appear here.
    '-f',
    'mp4',
    opts.output,
  ];
}

export interface X264LadderArgsOptions {
  /** MEMFS (or file system) path of the chunk. */
  readonly input: string;
  /** One output path per rung, in the rungs' order. */
  readonly outputs: readonly string[];
  /** As for x264ChunkArgs: decoder threads, and each encoder's. */
  readonly threads: number;
  /** As for x264ChunkArgs. */
  readonly maxThreads?: number;
}

/**
 * The argv for one chunk → one MP4 segment per rung, in one ffmpeg run: the
 * chunk is decoded once and `split` hands every frame to one filter chain
 * per rung, each exactly `videoFilter(rung)`, into its own libx264 with
 * exactly the single-rung flags. Each segment is byte-identical to what
 * x264ChunkArgs makes for that rung alone (the same filters and encoder on
 * the same frames; tested natively in x264-args.test.ts and in Chromium's
 * wasm core in e2e/multirung.e2e.test.ts), so replicas of a rung agree
 * whichever way they were made, and the coordinator's single-pass quality
 * reference (videoEncodeFlags) still encodes as each rung does.
 */
export function x264LadderArgs(rungs: readonly EncodeParams[], opts: X264LadderArgsOptions): string[] {
  const threads = checkThreads(opts.threads, opts.maxThreads);
  if (rungs.length === 0) throw new RangeError('no rungs to encode');
  if (rungs.length !== opts.outputs.length) throw new RangeError(`${rungs.length} rungs but ${opts.outputs.length} outputs`);
  const branches = rungs.map((_, i) => `[s${i}]`).join('');
  const chains = rungs.map((r, i) => `[s${i}]${videoFilter(r)}[v${i}]`);
  const graph = [`[0:v:0]split=${rungs.length}${branches}`, ...chains].join(';');
  return [
    '-hide_banner',
    '-noautorotate',
    '-threads',
    threads,
    '-i',
    opts.input,
    '-filter_complex',
    graph,
    ...rungs.flatMap((r, i) => [
      '-map',
      `[v${i}]`,
      '-an',
      '-sn',
      '-dn',
      '-fps_mode',
      'passthrough',
      ...x264EncoderFlags(r),
      '-threads',
      threads,
      '-f',
      'mp4',
      opts.outputs[i]!,
    ]),
  ];
}
