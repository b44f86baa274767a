/**
 * Limits on what a source may be, checked at upload (intake: 422) and again
 * at the probe step (the job fails), so that a pathological file is refused
 * in words before a native tool spends the server's memory and hours on it.
 *
 * The defaults accept every real camera, phone and editor file up to 4K:
 * 4096 on either side (DCI 4K; portrait UHD is 2160×3840), 4096×3072 pixels
 * (4:3 "open gate" 4K), 240 fps (phone slow motion), a million frames (4 h
 * at 60 fps is 864,000), and 480 video packets per second (twice the frame
 * rate limit: interlaced video may store each field as its own packet).
 * What they refuse was seen: an 8192×8192 source made a 7 GB server-side
 * ffmpeg, and a 30 MB file of 2,000,000 packets at 1000 fps made ffprobe
 * print 248 MB of JSON (docs/facts.md, "Native tools").
 */
import { PermanentError } from '../errors.js';

export interface SourceLimits {
  readonly maxWidth: number;
  readonly maxHeight: number;
  readonly maxPixels: number;
  readonly maxFps: number;
  /** Frames the container declares, and video packets counted. */
  readonly maxFrames: number;
  /** Video packets per second of video, on average over the file. */
  readonly maxPacketRate: number;
  readonly maxDurationSeconds: number;
}

export const DEFAULT_SOURCE_LIMITS: SourceLimits = {
  maxWidth: 4096,
  maxHeight: 4096,
  maxPixels: 4096 * 3072,
  maxFps: 240,
  maxFrames: 1_000_000,
  maxPacketRate: 480,
  maxDurationSeconds: 4 * 3600,
};

/** A source that is over one of the limits; the message names the limit, its variable and what to do. */
export class SourceLimitError extends PermanentError {
  constructor(message: string) {
    super('source_limits', message);
  }
}

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** Throws SourceLimitError for the first limit the picture size breaks. */
export function checkPictureSize(width: number, height: number, limits: SourceLimits): void {
  if (width > limits.maxWidth || height > limits.maxHeight) {
    throw new SourceLimitError(
      `the video is ${width}×${height}, over the limit of ${limits.maxWidth}×${limits.maxHeight} (MAX_SOURCE_WIDTH, MAX_SOURCE_HEIGHT); scale it down to 4K or less`,
    );
  }
  if (width * height > limits.maxPixels) {
    throw new SourceLimitError(
      `the video is ${width}×${height} (${fmt(width * height)} pixels), over the limit of ${fmt(limits.maxPixels)} pixels (MAX_SOURCE_PIXELS); scale it down`,
    );
  }
}

export function checkFrameRate(fps: number, limits: SourceLimits): void {
  if (fps > limits.maxFps) {
    throw new SourceLimitError(
      `the video's frame rate is ${fmt(fps)} fps, over the limit of ${limits.maxFps} fps (MAX_SOURCE_FPS); convert it to a usual frame rate`,
    );
  }
}

export function checkDuration(seconds: number, limits: SourceLimits): void {
  if (seconds > limits.maxDurationSeconds) {
    throw new SourceLimitError(
      `the video is ${Math.round(seconds)} s long, over the limit of ${limits.maxDurationSeconds} s (MAX_DURATION_SECONDS)`,
    );
  }
}

/** `what`: "declares" (container header) or "has" (counted). */
export function checkFrameCount(frames: number, limits: SourceLimits, what: 'declares' | 'has' = 'has'): void {
  if (frames > limits.maxFrames) {
    throw new SourceLimitError(
      `the video ${what} ${fmt(frames)} frames, over the limit of ${fmt(limits.maxFrames)} (MAX_SOURCE_FRAMES); split it or lower its frame rate`,
    );
  }
}

/** Video packets over the video's duration. A duration under one second counts as one second. */
export function checkPacketRate(packets: number, durationSeconds: number, limits: SourceLimits): void {
  const rate = packets / Math.max(1, durationSeconds);
  if (rate > limits.maxPacketRate) {
    throw new SourceLimitError(
      `the video has ${fmt(packets)} packets in ${fmt(durationSeconds)} s (${fmt(rate)} per second), over the limit of ${limits.maxPacketRate} per second (MAX_SOURCE_PACKET_RATE); a real video has one or two per frame`,
    );
  }
}
