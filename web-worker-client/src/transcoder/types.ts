/**
 * The one interface every encoder implements: ffmpeg.wasm's x264 now,
 * WebCodecs and a native helper next to it. One chunk in, one segment per
 * rung out: the chunk is decoded once and every rung is encoded from that
 * one decode (decoding a 1080p chunk again per rung made a 360p task mostly
 * decoding). The task runner only knows this file, so a new encoder is one
 * new module.
 */
import type { EncodeParams, EncoderKind } from '@tabgrid/shared';

export interface TranscodeProgress {
  /** Frames every rung has encoded so far (the slowest rung's count). */
  readonly frames: number;
  /** frames / the chunk's frame count, clamped to 0..1. */
  readonly ratio: number;
  /** The chunk's frame rate, when the encoder reports it (for "× realtime"). */
  readonly inputFps?: number;
}

export interface TranscodeOptions {
  /** Aborting rejects with code 'aborted' and leaves the transcoder usable. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: TranscodeProgress) => void;
}

export interface Transcoder {
  readonly kind: EncoderKind;
  /** Threads the encoder uses; reported to the coordinator in `hello`. */
  readonly threads: number;
  /** Whether this is the wasm multi-thread core (needs cross-origin isolation). */
  readonly multiThread: boolean;
  /**
   * Most rungs one transcode() call takes (≥ 1); reported to the coordinator
   * in `hello` as `capabilities.maxRungs`, which never leases more rungs of a
   * chunk to this tab at once. Bounded by the tab's memory: every rung holds
   * its own encoder.
   */
  readonly maxRungs: number;
  /**
   * Every encoder kind this transcoder runs, reported in hello; absent means
   * just `kind` (transcoder/by-encoder.ts lists x264 and WebCodecs).
   */
  readonly encoders?: readonly EncoderKind[];
  /** True once load() has settled successfully and until the next failure. */
  readonly loaded: boolean;
  /** Idempotent; rejects with TranscodeError ('load_failed' | 'load_timeout' | 'aborted'). */
  load(signal?: AbortSignal): Promise<void>;
  /**
   * Transcodes one chunk into one MP4 segment per rung, in the order of
   * `rungs`, each with exactly the chunk's frame count (`rungs[i].frames`).
   * `rungs` are renditions of one chunk: 1..maxRungs of them, the same
   * `frames` and `rotation`, no rendition twice (else 'invalid_rungs'; see
   * checkRungs). The chunk is decoded once for all of them.
   *
   * All or nothing: one rung failing rejects the whole call (the caller
   * fails each rung's lease on its own, and the coordinator retries each on
   * its own). One call at a time (a second concurrent call rejects 'busy').
   * `input`'s buffer is transferred to the encoder and detached: pass a copy
   * if you still need the bytes.
   */
  transcode(input: Uint8Array, rungs: readonly EncodeParams[], opts?: TranscodeOptions): Promise<Uint8Array[]>;
  /** Frees the encoder for good; later calls reject 'disposed'. */
  dispose(): void;
}

export type TranscodeErrorCode =
  | 'load_failed'
  | 'load_timeout'
  | 'aborted'
  /** No new frame within the watchdog period; the encoder was restarted. */
  | 'stalled'
  /** ffmpeg returned non-zero; the message carries its last log lines. */
  | 'ffmpeg_failed'
  /** ffmpeg succeeded but a segment is empty or has the wrong frame count. */
  | 'bad_output'
  /** The browser could not read or decode the chunk (WebCodecs): its container, codec or bitstream. */
  | 'decode_failed'
  /** The browser's encoder refused the configuration or failed mid-chunk (WebCodecs). */
  | 'encode_failed'
  /** The rungs are not renditions of one chunk, or more than maxRungs (see checkRungs). */
  | 'invalid_rungs'
  | 'busy'
  | 'disposed';

export class TranscodeError extends Error {
  override readonly name = 'TranscodeError';
  constructor(
    readonly code: TranscodeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isTranscodeError = (e: unknown): e is TranscodeError => e instanceof TranscodeError;

/**
 * Throws TranscodeError('invalid_rungs') unless `rungs` can be made from one
 * decode of one chunk: 1..maxRungs rungs, one frame count, one rotation, no
 * rendition twice. Every Transcoder calls it first.
 */
export function checkRungs(rungs: readonly EncodeParams[], maxRungs: number): void {
  const fail = (why: string): never => {
    throw new TranscodeError('invalid_rungs', why);
  };
  if (rungs.length === 0) fail('no rungs to encode');
  if (rungs.length > maxRungs) fail(`${rungs.length} rungs, this encoder takes at most ${maxRungs} at once`);
  const [first] = rungs as [EncodeParams, ...EncodeParams[]];
  if (rungs.some((r) => r.frames !== first.frames)) fail('the rungs disagree on the chunk frame count');
  if (rungs.some((r) => r.rotation !== first.rotation)) fail('the rungs disagree on the rotation');
  if (new Set(rungs.map((r) => r.rendition)).size !== rungs.length) fail('a rendition appears twice');
}
