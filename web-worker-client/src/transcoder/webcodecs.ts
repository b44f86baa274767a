/**
 * The WebCodecs Transcoder: the browser's own H.264 decoder and encoder
 * (OpenH264 in Chromium without a GPU), driven from a Web Worker of ours
 * (webcodecs.worker.ts) as the ffmpeg.wasm transcoder drives its core from
 * the library's worker, so the page stays responsive.
 *
 * Abort and the watchdog terminate the worker, the only way to stop codecs
 * that stopped answering, and start a fresh one in the background: there is
 * no core to load, so a restart costs milliseconds. Errors are
 * TranscodeErrors: 'decode_failed' when the browser cannot read or decode
 * the chunk, 'encode_failed', 'bad_output', 'stalled', 'aborted'.
 *
 * probeWebCodecsH264() says whether this browser can run it at all; the
 * page reports 'webcodecs-h264' in hello only when it returned true.
 */
import type { EncodeParams } from '@tabgrid/shared';
import type { FromWorker, ToWorker } from './webcodecs-messages.js';
import { avcCodecString } from './webcodecs-config.js';
import { checkRungs, TranscodeError, type TranscodeErrorCode, type TranscodeOptions, type Transcoder } from './types.js';

export interface WebCodecsOptions {
  /** The worker answers 'ready' within this, or load() fails. */
  readonly loadTimeoutMs?: number;
  /** No new frame for this long: the worker is restarted and the call fails 'stalled'. */
  readonly stallTimeoutMs?: number;
  /** Builds the worker; tests and the calibration pass their own URL. */
  readonly createWorker?: () => Worker;
  /** Most rungs per call, 1..WEBCODECS_MAX_RUNGS (the default). */
  readonly maxRungs?: number;
}

/**
 * Rungs of one chunk per call. Each holds an encoder (a few MB) and its
 * finished segment; the decoded frames are shared. 8 covers a 2160p
 * source's whole ladder.
 */
export const WEBCODECS_MAX_RUNGS = 8;

const PIPELINE_CODES: Record<string, TranscodeErrorCode> = {
  unsupported_input: 'decode_failed',
  decode_failed: 'decode_failed',
  encode_failed: 'encode_failed',
  bad_output: 'bad_output',
  invalid_rungs: 'invalid_rungs',
};

const defaultWorker = () => new Worker(new URL('./webcodecs.worker.ts', import.meta.url), { type: 'module', name: 'webcodecs' });

/** Whether this browser decodes and encodes H.264 with WebCodecs (asked of the browser, not assumed from its name). */
export async function probeWebCodecsH264(): Promise<boolean> {
  if (typeof VideoEncoder === 'undefined' || typeof VideoDecoder === 'undefined' || typeof Worker === 'undefined') return false;
  try {
    const enc = await VideoEncoder.isConfigSupported({
      codec: avcCodecString(1280, 720, 30),
      width: 1280,
      height: 720,
      bitrate: 2_000_000,
      bitrateMode: 'variable',
      framerate: 30,
      hardwareAcceleration: 'prefer-software',
      avc: { format: 'avc' },
    });
    const dec = await VideoDecoder.isConfigSupported({ codec: 'avc1.640028', codedWidth: 1920, codedHeight: 1080 });
    return enc.supported === true && dec.supported === true;
  } catch {
    return false;
  }
}

export class WebCodecsTranscoder implements Transcoder {
  readonly kind = 'webcodecs-h264' as const;
  /** OpenH264 in Chromium slices each frame over the cores: reported, not chosen. */
  readonly threads: number;
  readonly multiThread = false;
  readonly maxRungs: number;
  readonly #loadTimeoutMs: number;
  readonly #stallTimeoutMs: number;
  readonly #createWorker: () => Worker;
  #worker: Worker | null = null;
  #loading: Promise<void> | null = null;
  #busy = false;
  #disposed = false;
  #seq = 0;

  constructor(opts: WebCodecsOptions = {}) {
    this.threads = Math.min(64, Math.max(1, globalThis.navigator?.hardwareConcurrency || 1));
    this.#loadTimeoutMs = opts.loadTimeoutMs ?? 30_000;
    this.#stallTimeoutMs = opts.stallTimeoutMs ?? 60_000;
    this.#createWorker = opts.createWorker ?? defaultWorker;
    const maxRungs = opts.maxRungs ?? WEBCODECS_MAX_RUNGS;
    if (!Number.isInteger(maxRungs) || maxRungs < 1 || maxRungs > WEBCODECS_MAX_RUNGS) {
      throw new RangeError(`maxRungs must be an integer in 1..${WEBCODECS_MAX_RUNGS}`);
    }
    this.maxRungs = maxRungs;
  }

  get loaded(): boolean {
    return this.#worker !== null;
  }

  load(signal?: AbortSignal): Promise<void> {
    if (this.#disposed) return Promise.reject(new TranscodeError('disposed', 'the transcoder was disposed'));
    if (this.#worker) return Promise.resolve();
    this.#loading ??= this.#start().finally(() => {
      this.#loading = null;
    });
    if (!signal) return this.#loading;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new TranscodeError('aborted', 'starting the WebCodecs worker was aborted'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#loading!.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  async #start(): Promise<void> {
    let worker: Worker;
    try {
      worker = this.#createWorker();
    } catch (e) {
      throw new TranscodeError('load_failed', `the WebCodecs worker did not start: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new TranscodeError('load_timeout', `the WebCodecs worker did not start within ${this.#loadTimeoutMs / 1000} s`)),
          this.#loadTimeoutMs,
        );
        worker.onmessage = (e: MessageEvent<FromWorker>) => {
          if (e.data.type !== 'ready') return;
          clearTimeout(timer);
          resolve();
        };
        worker.onerror = (e) => {
          clearTimeout(timer);
          reject(new TranscodeError('load_failed', `the WebCodecs worker failed to load: ${e.message || 'script error'}`));
        };
      });
    } catch (e) {
      worker.terminate();
      throw e;
    }
    if (this.#disposed) {
      worker.terminate();
      throw new TranscodeError('disposed', 'the transcoder was disposed while loading');
    }
    this.#worker = worker;
  }

  /** Terminates the worker (the only way to stop codecs mid-chunk) and starts a fresh one in the background. */
  #restart(): void {
    this.#worker?.terminate();
    this.#worker = null;
    if (!this.#disposed) this.load().catch(() => undefined); // the next transcode() retries and reports
  }

  async transcode(input: Uint8Array, rungs: readonly EncodeParams[], opts: TranscodeOptions = {}): Promise<Uint8Array[]> {
    if (this.#disposed) throw new TranscodeError('disposed', 'the transcoder was disposed');
    if (this.#busy) throw new TranscodeError('busy', 'a transcode is already running');
    checkRungs(rungs, this.maxRungs);
    const notOurs = rungs.find((r) => r.encoder !== 'webcodecs' || r.bitrateKbps === undefined);
    if (notOurs) throw new TranscodeError('invalid_rungs', `rung ${notOurs.rendition} is not a WebCodecs task`);
    this.#busy = true;
    try {
      await this.load(opts.signal);
      return await this.#run(this.#worker!, input, rungs, opts);
    } finally {
      this.#busy = false;
    }
  }

  #run(worker: Worker, input: Uint8Array, rungs: readonly EncodeParams[], opts: TranscodeOptions): Promise<Uint8Array[]> {
    const id = ++this.#seq;
    const total = rungs[0]!.frames;
    if (opts.signal?.aborted) return Promise.reject(new TranscodeError('aborted', 'transcode aborted'));
    return new Promise<Uint8Array[]>((resolve, reject) => {
      let frames = 0;
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        clearTimeout(watchdog);
        opts.signal?.removeEventListener('abort', onAbort);
        worker.onmessage = null;
        worker.onerror = null;
      };
      const kill = (e: TranscodeError) => {
        finish();
        this.#restart();
        reject(e);
      };
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(
          () =>
            kill(
              new TranscodeError(
                'stalled',
                `WebCodecs made no progress for ${this.#stallTimeoutMs / 1000} s (frame ${frames}/${total}); restarted it`,
              ),
            ),
          this.#stallTimeoutMs,
        );
      };
      const onAbort = () => kill(new TranscodeError('aborted', 'transcode aborted'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      worker.onerror = (e) => kill(new TranscodeError('encode_failed', `the WebCodecs worker crashed: ${e.message || 'script error'}`));
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === 'ready' || m.id !== id) return;
        if (m.type === 'progress') {
          if (m.frames <= frames) return;
          frames = m.frames;
          arm();
          opts.onProgress?.({ frames, ratio: Math.min(1, frames / total) });
          return;
        }
        finish();
        if (m.type === 'error') reject(new TranscodeError(PIPELINE_CODES[m.code] ?? 'encode_failed', m.message));
        else if (m.segments.length !== rungs.length) {
          reject(new TranscodeError('bad_output', `the worker returned ${m.segments.length} segments for ${rungs.length} rungs`));
        } else resolve(m.segments);
      };
      arm();
      const request: ToWorker = { type: 'transcode', id, input, rungs: [...rungs] };
      worker.postMessage(request, [input.buffer]);
    });
  }

  dispose(): void {
    this.#disposed = true;
    this.#worker?.terminate();
    this.#worker = null;
  }
}
