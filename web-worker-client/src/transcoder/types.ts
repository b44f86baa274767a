/**
 * The one interface every encoder implements: ffmpeg.wasm's x264 now,
 * WebCodecs and a native helper later. Chunk bytes in, segment bytes out.
 * The task runner only knows this file, so a new encoder is one new module.
 */
import type { EncodeParams, EncoderKind } from '@tabgrid/shared';

export interface TranscodeProgress {
  /** Frames encoded so far. */
  readonly frames: number;
  /** frames / params.frames, clamped to 0..1. */
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
  /** True once load() has settled successfully and until the next failure. */
  readonly loaded: boolean;
  /** Idempotent; rejects with TranscodeError ('load_failed' | 'load_timeout' | 'aborted'). */
  load(signal?: AbortSignal): Promise<void>;
  /**
   * Transcodes one chunk into one MP4 segment with exactly params.frames
   * frames. One call at a time (a second concurrent call rejects 'busy').
   * `input`'s buffer is transferred to the encoder and detached: pass a copy
   * if you still need the bytes.
   */
  transcode(input: Uint8Array, params: EncodeParams, opts?: TranscodeOptions): Promise<Uint8Array>;
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
  /** ffmpeg succeeded but the segment is empty or has the wrong frame count. */
  | 'bad_output'
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
