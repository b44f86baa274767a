/**
 * The native Transcoder (`native-x264`): the system's ffmpeg, run with the
 * tab's own x264 recipe (native-argv.ts), behind the same interface as
 * ffmpeg.wasm, so the tab's task runner drives it unchanged. One chunk in,
 * one MP4 segment per rung out, each holding exactly the chunk's frames.
 *
 * Every run is bounded: a time limit (a segment's upload URL lives 10
 * minutes, so a transcode longer than that is wasted), a stall watchdog (no
 * new frame within stallTimeoutMs), and each output's size (the bound the
 * coordinator signs the upload for, maxSegmentBytes; checked at every
 * progress report and at the end). Abort, a limit or dispose() kill the
 * whole process group. The chunk and segments live in a private temporary
 * folder, removed after every run.
 *
 * Output differs from wasm x264 (native x264 uses its SIMD kernels; the
 * decoded frames differ, docs/facts.md "ffmpeg.wasm"), so the coordinator
 * checks it by content, never by comparing hashes with wasm replicas.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type EncodeParams, MAX_RUNGS_PER_ASSIGN, maxSegmentBytes, mp4SampleCount, NATIVE_X264_MAX_THREADS } from '@tabgrid/shared';
import {
  checkRungs,
  LogTail,
  parseStreamFps,
  TranscodeError,
  type TranscodeOptions,
  type Transcoder,
} from '@tabgrid/web-worker-client/runtime';
import { ProgressParser } from './ffmpeg-progress.js';
import { startFfmpeg } from './ffmpeg-process.js';
import { nativeArgv } from './native-argv.js';

const run = promisify(execFile);

export interface NativeTranscoderOptions {
  /** ffmpeg and x264 threads (the operator's --threads). */
  readonly threads: number;
  /** The ffmpeg to run (FFMPEG_PATH, else `ffmpeg` on PATH). */
  readonly ffmpegPath?: string;
  /** Rungs of one chunk per run, one decode for all of them (default: as many as an assignment may carry). */
  readonly maxRungs?: number;
  /** A run is killed after this long (default 10 min: the segment's upload URL expires then). */
  readonly timeLimitMs?: number;
  /** A run that shows no new frame for this long is killed (default 60 s). */
  readonly stallTimeoutMs?: number;
  /** Where the private run folders go (default the OS's). */
  readonly tmpDir?: string;
}

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class NativeTranscoder implements Transcoder {
  readonly kind = 'native-x264' as const;
  readonly threads: number;
  readonly multiThread = false;
  readonly maxRungs: number;
  readonly ffmpegPath: string;
  /** ffmpeg's version line, once loaded ("ffmpeg version 5.1.9-0+deb12u1 …"). */
  version: string | null = null;
  readonly #timeLimitMs: number;
  readonly #stallTimeoutMs: number;
  readonly #tmpDir: string;
  #loaded = false;
  #loading: Promise<void> | null = null;
  #busy = false;
  #disposed = false;
  #killRunning: (() => void) | null = null;

  constructor(opts: NativeTranscoderOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > NATIVE_X264_MAX_THREADS) {
      throw new RangeError(`threads must be an integer in 1..${NATIVE_X264_MAX_THREADS}, got ${opts.threads}`);
    }
    this.threads = opts.threads;
    this.maxRungs = opts.maxRungs ?? MAX_RUNGS_PER_ASSIGN;
    this.ffmpegPath = opts.ffmpegPath ?? 'ffmpeg';
    this.#timeLimitMs = opts.timeLimitMs ?? 10 * 60_000;
    this.#stallTimeoutMs = opts.stallTimeoutMs ?? 60_000;
    this.#tmpDir = opts.tmpDir ?? os.tmpdir();
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** Checks that ffmpeg runs and has libx264; rejects 'load_failed' saying what is missing. */
  load(): Promise<void> {
    if (this.#disposed) return Promise.reject(new TranscodeError('disposed', 'the transcoder was disposed'));
    if (this.#loaded) return Promise.resolve();
    this.#loading ??= this.#doLoad().finally(() => {
      this.#loading = null;
    });
    return this.#loading;
  }

  async #doLoad(): Promise<void> {
    const opts = { timeout: 30_000, maxBuffer: 1024 * 1024 };
    try {
      const { stdout: version } = await run(this.ffmpegPath, ['-hide_banner', '-version'], opts);
      const { stdout: help } = await run(this.ffmpegPath, ['-hide_banner', '-h', 'encoder=libx264'], opts);
      if (!/Encoder libx264/.test(help)) throw new Error(`${this.ffmpegPath} has no libx264 encoder`);
      this.version = version.split('\n')[0]?.trim() ?? null;
    } catch (e) {
      throw new TranscodeError('load_failed', `cannot use ${this.ffmpegPath}: ${describe(e)}`, { cause: e });
    }
    if (this.#disposed) throw new TranscodeError('disposed', 'the transcoder was disposed while loading');
    this.#loaded = true;
  }

  async transcode(input: Uint8Array, rungs: readonly EncodeParams[], opts: TranscodeOptions = {}): Promise<Uint8Array[]> {
    if (this.#disposed) throw new TranscodeError('disposed', 'the transcoder was disposed');
    if (this.#busy) throw new TranscodeError('busy', 'a transcode is already running');
    checkRungs(rungs, this.maxRungs);
    if (opts.signal?.aborted) throw new TranscodeError('aborted', 'transcode aborted');
    this.#busy = true;
    let dir: string | undefined;
    try {
      await this.load();
      dir = await mkdtemp(path.join(this.#tmpDir, 'tabgrid-native-'));
      const inputPath = path.join(dir, 'chunk.mkv');
      await writeFile(inputPath, input);
      const outputs = rungs.map((_, i) => path.join(dir!, `rung-${i}.mp4`));
      await this.#run(nativeArgv(rungs, { input: inputPath, outputs, threads: this.threads }), rungs, outputs, opts);
      const segments = await Promise.all(outputs.map((o) => readFile(o)));
      for (const [i, rung] of rungs.entries()) {
        // The merge needs exactly the chunk's frames in every segment (shared/src/x264-args.ts); counted
        // from the container, as the tab does, since ffmpeg's progress names only its first output.
        const n = mp4SampleCount(segments[i]!);
        if (n !== rung.frames)
          throw new TranscodeError('bad_output', `${rung.rendition} segment has ${n ?? 'no'} frames, the chunk has ${rung.frames}`);
      }
      return segments;
    } finally {
      this.#busy = false;
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }

  async #run(argv: string[], rungs: readonly EncodeParams[], outputs: readonly string[], opts: TranscodeOptions): Promise<void> {
    const frames = rungs[0]!.frames;
    const limits = rungs.map((r) => maxSegmentBytes(r));
    const tail = new LogTail(20);
    const progress = new ProgressParser();
    let inputFps: number | undefined;
    let framesSeen = 0;
    const state: { stopped: TranscodeError | null } = { stopped: null };

    let sizeCheck: Promise<void> = Promise.resolve();
    const ffmpeg = startFfmpeg(this.ffmpegPath, argv, {
      onStderrLine: (line) => {
        tail.push(line);
        inputFps ??= parseStreamFps(line);
      },
      onStdoutLine: (line) => {
        const block = progress.push(line);
        if (!block) return;
        sizeCheck = sizeCheck.then(() => this.#checkSizes(outputs, limits, stop));
        if (block.frame <= framesSeen) return;
        framesSeen = block.frame;
        armWatchdog();
        opts.onProgress?.({ frames: framesSeen, ratio: Math.min(1, framesSeen / frames), ...(inputFps ? { inputFps } : {}) });
      },
    });
    const stop = (e: TranscodeError) => {
      if (state.stopped) return;
      state.stopped = e;
      ffmpeg.kill();
    };
    this.#killRunning = () => stop(new TranscodeError('disposed', 'the transcoder was disposed'));
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const armWatchdog = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        const s = this.#stallTimeoutMs / 1000;
        stop(new TranscodeError('stalled', `ffmpeg made no progress for ${s} s (frame ${framesSeen}/${frames}); killed it`));
      }, this.#stallTimeoutMs);
    };
    const limit = setTimeout(
      () =>
        stop(
          new TranscodeError('ffmpeg_failed', `ffmpeg did not finish within its time limit of ${this.#timeLimitMs / 1000} s; killed it`),
        ),
      this.#timeLimitMs,
    );
    const onAbort = () => stop(new TranscodeError('aborted', 'transcode aborted'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    armWatchdog();
    try {
      const exit = await ffmpeg.done;
      await sizeCheck;
      if (state.stopped) throw state.stopped;
      if (exit.error)
        throw new TranscodeError('ffmpeg_failed', `cannot start ${this.ffmpegPath}: ${exit.error.message}`, { cause: exit.error });
      if (exit.code !== 0) {
        const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
        throw new TranscodeError('ffmpeg_failed', `ffmpeg ${how}:\n${tail.text()}`);
      }
      for (const [i, rung] of rungs.entries()) {
        const size = await stat(outputs[i]!).then(
          (st) => st.size,
          () => 0,
        );
        if (size === 0) throw new TranscodeError('bad_output', `ffmpeg wrote no ${rung.rendition} segment:\n${tail.text()}`);
        if (size > limits[i]!)
          throw new TranscodeError('bad_output', `${rung.rendition} segment is ${size} bytes, over its bound of ${limits[i]} bytes`);
      }
    } finally {
      clearTimeout(watchdog);
      clearTimeout(limit);
      opts.signal?.removeEventListener('abort', onAbort);
      this.#killRunning = null;
      ffmpeg.kill(); // nothing to kill after a normal exit; after a throw above, make sure
    }
  }

  /** Calls `fail` with 'bad_output' when an output has grown over its rung's bound (while ffmpeg runs). */
  async #checkSizes(outputs: readonly string[], limits: readonly number[], fail: (e: TranscodeError) => void): Promise<void> {
    for (const [i, file] of outputs.entries()) {
      const size = await stat(file).then(
        (s) => s.size,
        () => null,
      );
      if (size !== null && size > limits[i]!) {
        fail(new TranscodeError('bad_output', `output ${i} grew to ${size} bytes, over its bound of ${limits[i]} bytes; killed ffmpeg`));
        return;
      }
    }
  }

  dispose(): void {
    this.#disposed = true;
    this.#loaded = false;
    this.#killRunning?.();
  }
}
