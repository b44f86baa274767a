/**
 * The ffmpeg.wasm (x264) Transcoder, on @ffmpeg/ffmpeg 0.12.15, which runs
 * the core in its own Web Worker and talks to it by message id, so the
 * page stays responsive while a chunk encodes. Several rungs of a chunk are
 * one exec: one decode, `split` into one scale + x264 chain per rung
 * (shared/src/x264-args.ts x264LadderArgs), each segment byte-identical to
 * that rung encoded alone. The core stays loaded across tasks (only a stall
 * or an abort restarts it), so only the first exec pays for compiling it.
 *
 * Core files always come from our own origin: @ffmpeg/ffmpeg falls back to
 * a CDN when coreURL is missing, so we always pass coreURL and wasmURL (and
 * workerURL for core-mt), and vite.config.ts blanks the CDN constant too.
 */
import { FFmpeg, type LogEvent } from '@ffmpeg/ffmpeg';
import { X264_MAX_THREADS, mp4SampleCount, x264ChunkArgs, x264LadderArgs, type EncodeParams } from '@tabgrid/shared';
import coreURL from '@ffmpeg/core?url';
import wasmURL from '@ffmpeg/core/wasm?url';
import coreMtURL from '@ffmpeg/core-mt?url';
import wasmMtURL from '@ffmpeg/core-mt/wasm?url';
import workerMtURL from '@ffmpeg/core-mt/worker?url';
import { LogTail, parseFrameCount, parseStreamFps } from './ffmpeg-log.js';
import { checkRungs, TranscodeError, type TranscodeOptions, type Transcoder } from './types.js';

export interface FfmpegWasmOptions {
  /**
   * 1 (default): the single-thread core. 2..4: the multi-thread core, which
   * needs `crossOriginIsolated` (COOP same-origin + COEP require-corp).
   */
  readonly threads?: number;
  /**
   * The library ignores errors loading its worker (a 404 leaves load()
   * pending forever), hence a timeout. The core is ~32 MB of wasm, so leave
   * room for slow volunteer connections.
   */
  readonly loadTimeoutMs?: number;
  /**
   * Restart ffmpeg when an exec shows no new frame for this long. The core
   * logs a `frame=` report every ~0.5 s (a 4 s 720p chunk: first at ~0.15 s,
   * done in 2.9 s), so 60 s only trips on a hang: upstream reports them for
   * core-mt, and we saw one single-thread exec log its final "frame=120" and
   * never return (1 in ~100 execs, while other jobs loaded the 2-core box).
   */
  readonly stallTimeoutMs?: number;
  /** Most rungs per exec, 1..4 (default 4): fewer for a tab short of memory, or to measure one rung at a time. */
  readonly maxRungs?: number;
}

/** See FfmpegWasmTranscoder.maxRungs. */
export const FFMPEG_WASM_MAX_RUNGS = 4;

const abs = (url: string): string => new URL(url, globalThis.location?.href).href;

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class FfmpegWasmTranscoder implements Transcoder {
  readonly kind = 'wasm-x264' as const;
  readonly threads: number;
  readonly multiThread: boolean;
  /**
   * The default ladder is 3 rungs; 4 leaves room for a 1080p rung. Every rung
   * holds an x264 encoder and its lookahead in the core's memory next to the
   * decoded chunk, and the single-thread core's memory is one wasm32 heap.
   */
  readonly maxRungs: number;
  readonly #loadTimeoutMs: number;
  readonly #stallTimeoutMs: number;
  #ff: FFmpeg | null = null;
  #loading: Promise<void> | null = null;
  #busy = false;
  #disposed = false;
  #seq = 0;

  constructor(opts: FfmpegWasmOptions = {}) {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > X264_MAX_THREADS) {
      throw new RangeError(`threads must be an integer in 1..${X264_MAX_THREADS}`);
    }
    if (threads > 1 && globalThis.crossOriginIsolated !== true) {
      throw new TranscodeError('load_failed', 'the multi-thread core needs a cross-origin isolated page (COOP + COEP)');
    }
    this.threads = threads;
    this.multiThread = threads > 1;
    this.#loadTimeoutMs = opts.loadTimeoutMs ?? 120_000;
    this.#stallTimeoutMs = opts.stallTimeoutMs ?? 60_000;
    const maxRungs = opts.maxRungs ?? FFMPEG_WASM_MAX_RUNGS;
    if (!Number.isInteger(maxRungs) || maxRungs < 1 || maxRungs > FFMPEG_WASM_MAX_RUNGS) {
      throw new RangeError(`maxRungs must be an integer in 1..${FFMPEG_WASM_MAX_RUNGS}`);
    }
    this.maxRungs = maxRungs;
  }

  get loaded(): boolean {
    return this.#ff !== null;
  }

  load(signal?: AbortSignal): Promise<void> {
    if (this.#disposed) return Promise.reject(new TranscodeError('disposed', 'the transcoder was disposed'));
    if (this.#ff) return Promise.resolve();
    this.#loading ??= this.#doLoad().finally(() => {
      this.#loading = null;
    });
    if (!signal) return this.#loading;
    // The caller stops waiting; the shared load carries on for the next caller.
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new TranscodeError('aborted', 'loading ffmpeg was aborted'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#loading!.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  async #doLoad(): Promise<void> {
    const ff = new FFmpeg();
    const urls = this.multiThread
      ? { coreURL: abs(coreMtURL), wasmURL: abs(wasmMtURL), workerURL: abs(workerMtURL) }
      : { coreURL: abs(coreURL), wasmURL: abs(wasmURL) };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TranscodeError('load_timeout', `ffmpeg core did not load within ${this.#loadTimeoutMs / 1000} s`)),
        this.#loadTimeoutMs,
      );
    });
    try {
      await Promise.race([ff.load(urls), timeout]);
    } catch (e) {
      ff.terminate();
      if (e instanceof TranscodeError) throw e;
      throw new TranscodeError('load_failed', `ffmpeg core failed to load: ${describe(e)}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    if (this.#disposed) {
      ff.terminate();
      throw new TranscodeError('disposed', 'the transcoder was disposed while loading');
    }
    this.#ff = ff;
  }

  /** Kills the worker (the only way to stop a running exec) and loads a fresh one in the background. */
  #restart(): void {
    this.#ff?.terminate();
    this.#ff = null;
    if (!this.#disposed) this.load().catch(() => undefined); // the next transcode() retries and reports
  }

  async transcode(input: Uint8Array, rungs: readonly EncodeParams[], opts: TranscodeOptions = {}): Promise<Uint8Array[]> {
    if (this.#disposed) throw new TranscodeError('disposed', 'the transcoder was disposed');
    if (this.#busy) throw new TranscodeError('busy', 'a transcode is already running');
    checkRungs(rungs, this.maxRungs);
    this.#busy = true;
    try {
      await this.load(opts.signal);
      return await this.#run(this.#ff!, input, rungs, opts);
    } finally {
      this.#busy = false;
    }
  }

  async #run(ff: FFmpeg, input: Uint8Array, rungs: readonly EncodeParams[], opts: TranscodeOptions): Promise<Uint8Array[]> {
    const n = ++this.#seq;
    const inName = `in-${n}.mkv`;
    const outNames = rungs.map((r) => `out-${n}-${r.rendition}.mp4`);
    // checkRungs: every rung has the chunk's frame count.
    const params = rungs[0]!;
    const tail = new LogTail(20);
    let frames = 0;
    let inputFps: number | undefined;

    // Abort and the watchdog interrupt whatever step is pending by killing the worker.
    let interrupted: TranscodeError | undefined;
    let rejectInterrupt: (e: TranscodeError) => void = () => undefined;
    const interrupt = new Promise<never>((_, reject) => (rejectInterrupt = reject));
    interrupt.catch(() => undefined);
    const kill = (e: TranscodeError) => {
      if (interrupted) return;
      interrupted = e;
      this.#restart();
      rejectInterrupt(e);
    };
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        const s = this.#stallTimeoutMs / 1000;
        kill(new TranscodeError('stalled', `ffmpeg made no progress for ${s} s (frame ${frames}/${params.frames}); restarted it`));
      }, this.#stallTimeoutMs);
    };
    const onAbort = () => kill(new TranscodeError('aborted', 'transcode aborted'));
    const onLog = ({ message }: LogEvent) => {
      tail.push(message);
      inputFps ??= parseStreamFps(message);
      const f = parseFrameCount(message);
      if (f === undefined || f <= frames) return;
      frames = f;
      arm();
      opts.onProgress?.({ frames, ratio: Math.min(1, frames / params.frames), ...(inputFps === undefined ? {} : { inputFps }) });
    };
    // Racing every worker call against `interrupt` also covers writeFile and
    // readFile, which a hung worker would never answer either.
    const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, interrupt]);

    if (opts.signal?.aborted) throw new TranscodeError('aborted', 'transcode aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    ff.on('log', onLog);
    arm();
    try {
      await step(ff.writeFile(inName, input));
      const threads = this.threads;
      // One rung: exactly the argv every other x264 worker runs for it.
      const args =
        rungs.length === 1
          ? x264ChunkArgs(params, { input: inName, output: outNames[0]!, threads })
          : x264LadderArgs(rungs, { input: inName, outputs: outNames, threads });
      // Every exec ends with "Aborted()" in the log and return code 0: that is
      // the core's normal exit. Only a non-zero code is a failure.
      const rc = await step(ff.exec(args));
      if (rc !== 0) throw new TranscodeError('ffmpeg_failed', `ffmpeg exited with code ${rc}:\n${tail.text()}`);
      const outs: Uint8Array[] = [];
      for (const [i, name] of outNames.entries()) {
        const out = await step(ff.readFile(name));
        const rendition = rungs[i]!.rendition;
        if (!(out instanceof Uint8Array) || out.byteLength === 0) {
          throw new TranscodeError('bad_output', `ffmpeg wrote an empty ${rendition} segment:\n${tail.text()}`);
        }
        // The merge needs exactly the chunk's frame count (see shared/src/x264-args.ts).
        // ffmpeg's progress names only the first output, so each segment is counted itself.
        const samples = mp4SampleCount(out);
        if (samples !== params.frames) {
          throw new TranscodeError(
            'bad_output',
            `the ${rendition} segment has ${samples ?? 'no readable'} frames, the chunk has ${params.frames}`,
          );
        }
        outs.push(out);
      }
      return outs;
    } catch (e) {
      if (interrupted) throw interrupted;
      if (e instanceof TranscodeError) throw e;
      throw new TranscodeError('ffmpeg_failed', `ffmpeg.wasm: ${describe(e)}\n${tail.text()}`, { cause: e });
    } finally {
      clearTimeout(watchdog);
      opts.signal?.removeEventListener('abort', onAbort);
      ff.off('log', onLog);
      // MEMFS lives in the worker's memory: without this each task leaks its
      // chunk and segment. A killed worker took its MEMFS with it.
      if (!interrupted) {
        await ff.deleteFile(inName).catch(() => undefined);
        for (const name of outNames) await ff.deleteFile(name).catch(() => undefined);
      }
    }
  }

  dispose(): void {
    this.#disposed = true;
    this.#ff?.terminate();
    this.#ff = null;
  }
}
