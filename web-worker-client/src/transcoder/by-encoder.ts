/**
 * A tab's encoders behind one Transcoder: x264 (ffmpeg.wasm, always) and
 * WebCodecs (when the browser passed probeWebCodecsH264). Each task is
 * pinned to one encoder by the coordinator (EncodeParams.encoder); this
 * routes every call to the transcoder that encoder names, so the task
 * runner stays unaware of encoders.
 *
 * `encoders` is what the tab reports in hello: x264's kind first, because
 * the coordinator reads the first kind as the configuration its x264
 * results are replicated by (coordinator/src/workers/encoder-config.ts).
 * WebCodecs failing to start only drops it from that list; x264 failing
 * fails load().
 */
import type { EncodeParams, EncoderKind } from '@tabgrid/shared';
import { TranscodeError, type TranscodeOptions, type Transcoder } from './types.js';

export class EncoderSet implements Transcoder {
  readonly #x264: Transcoder;
  readonly #webcodecs: Transcoder | null;
  #webcodecsFailed = false;

  constructor(x264: Transcoder, webcodecs: Transcoder | null) {
    this.#x264 = x264;
    this.#webcodecs = webcodecs;
  }

  get kind(): EncoderKind {
    return this.#x264.kind;
  }
  get threads(): number {
    return this.#x264.threads;
  }
  get multiThread(): boolean {
    return this.#x264.multiThread;
  }
  /** Rungs per call: a batch larger than its encoder takes is encoded in turns. */
  get maxRungs(): number {
    return Math.max(this.#x264.maxRungs, this.#usable()?.maxRungs ?? 1);
  }
  get loaded(): boolean {
    return this.#x264.loaded;
  }
  /** Every kind this tab runs now, x264 first. */
  get encoders(): EncoderKind[] {
    const wc = this.#usable();
    return wc ? [this.#x264.kind, wc.kind] : [this.#x264.kind];
  }

  #usable(): Transcoder | null {
    return this.#webcodecsFailed ? null : this.#webcodecs;
  }

  async load(signal?: AbortSignal): Promise<void> {
    const wc = this.#usable();
    const other = wc?.load(signal).catch(() => {
      this.#webcodecsFailed = true;
    });
    await this.#x264.load(signal);
    await other;
  }

  async transcode(input: Uint8Array, rungs: readonly EncodeParams[], opts: TranscodeOptions = {}): Promise<Uint8Array[]> {
    const encoder = rungs[0]?.encoder ?? 'x264';
    if (rungs.some((r) => (r.encoder ?? 'x264') !== encoder)) {
      throw new TranscodeError('invalid_rungs', 'the rungs of one call must share one encoder');
    }
    const target = encoder === 'webcodecs' ? this.#usable() : this.#x264;
    if (!target) throw new TranscodeError('invalid_rungs', 'this tab does not run WebCodecs (it did not report it)');
    if (rungs.length <= target.maxRungs) return target.transcode(input, rungs, opts);
    // More rungs than the encoder takes at once: in turns, each on its own copy (transcode detaches its input).
    const out: Uint8Array[] = [];
    for (let i = 0; i < rungs.length; i += target.maxRungs) {
      const part = rungs.slice(i, i + target.maxRungs);
      const done = i;
      const onProgress = opts.onProgress;
      out.push(
        ...(await target.transcode(input.slice(), part, {
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(onProgress ? { onProgress: (p) => onProgress({ ...p, ratio: (done + p.ratio * part.length) / rungs.length }) } : {}),
        })),
      );
    }
    return out;
  }

  dispose(): void {
    this.#x264.dispose();
    this.#webcodecs?.dispose();
  }
}
