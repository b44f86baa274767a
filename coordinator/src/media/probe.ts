/**
 * Probes an uploaded source with ffprobe and decides whether it is a video
 * the grid can transcode, within the source limits (source-limits.ts).
 * Anything else is a PermanentError whose message a user can act on.
 *
 * One ffprobe run reads the headers and demuxes the whole file to count its
 * packets (`-count_packets`: nothing per packet is printed, so the output
 * stays a few KB whatever the file holds). Demuxing is cheap: 2.9 s for a
 * file of 2,000,000 packets, ~1 s per hour of 30 fps video.
 */
import type { SourceMetadata } from '../db/schema.js';
import { PermanentError, ToolLimitError } from '../errors.js';
import {
  checkDuration,
  checkFrameCount,
  checkFrameRate,
  checkPacketRate,
  checkPictureSize,
  DEFAULT_SOURCE_LIMITS,
  SourceLimitError,
  type SourceLimits,
} from './source-limits.js';
import { runTool, type MediaTools } from './tools.js';

/** Reading a 4 GiB file (MAX_UPLOAD_BYTES) from a slow disk fits with room to spare. */
const PROBE_TIMEOUT_MS = 120_000;
/**
 * Headers of every stream as JSON: ~1.9 KB per stream, and ffmpeg opens at
 * most 1000 streams (its max_streams): 1.86 MB measured for 999. A backstop.
 */
const PROBE_OUTPUT_BYTES = 4 * 1024 * 1024;

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  pix_fmt?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  disposition?: { attached_pic?: number };
  tags?: { rotate?: string };
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

interface ProbeOutput {
  streams?: ProbeStream[];
  format?: { duration?: string; format_name?: string };
}

const IMAGE_CODECS = new Set(['png', 'mjpeg', 'bmp', 'gif', 'webp', 'tiff', 'jpeg2000']);

function ratio(value: string | undefined): number | null {
  if (!value) return null;
  const [n, d] = value.split(/[/:]/).map(Number);
  if (!n || !d || !Number.isFinite(n / d)) return null;
  return n / d;
}

/** Clockwise display rotation. ffprobe reports the display matrix counter-clockwise (-90 for a portrait phone clip). */
function rotationOf(s: ProbeStream): SourceMetadata['rotation'] {
  const matrix = s.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation;
  const raw = matrix !== undefined ? -matrix : Number(s.tags?.rotate ?? 0);
  const r = (((Math.round(raw / 90) * 90) % 360) + 360) % 360;
  return r as SourceMetadata['rotation'];
}

export async function probeSource(tools: MediaTools, file: string, limits: SourceLimits = DEFAULT_SOURCE_LIMITS): Promise<SourceMetadata> {
  let out: ProbeOutput;
  try {
    const { stdout } = await runTool(
      tools.ffprobe,
      ['-v', 'error', '-count_packets', '-print_format', 'json', '-show_format', '-show_streams', file],
      { timeoutMs: PROBE_TIMEOUT_MS, maxOutputBytes: PROBE_OUTPUT_BYTES },
    );
    out = JSON.parse(stdout) as ProbeOutput;
  } catch (err) {
    if (err instanceof ToolLimitError) {
      throw new SourceLimitError(`the file could not be read within the server's limits (${err.message}); it is not a usable video`);
    }
    throw new PermanentError('not_a_video', 'the file is not a decodable video: ffprobe could not read it', { cause: err });
  }
  const streams = out.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  if (!video?.width || !video.height) {
    const kinds = [...new Set(streams.map((s) => s.codec_type ?? 'unknown'))];
    throw new PermanentError(
      'not_a_video',
      `the file is not a decodable video: it has no video stream${kinds.length ? ` (found: ${kinds.join(', ')})` : ''}`,
    );
  }
  const duration = Number(out.format?.duration);
  if (IMAGE_CODECS.has(video.codec_name ?? '') && !(duration > 0.5)) {
    throw new PermanentError('not_a_video', `the file is a still image (${video.codec_name}), not a video`);
  }
  if (!(duration > 0)) throw new PermanentError('not_a_video', 'the file is not a decodable video: it has no duration');
  const [sarNum, sarDen] = (video.sample_aspect_ratio ?? '1:1').split(':').map(Number);
  const fps = ratio(video.avg_frame_rate) ?? ratio(video.r_frame_rate);
  if (!fps) throw new PermanentError('not_a_video', 'the video stream has no frame rate ffprobe can read');
  checkPictureSize(video.width, video.height, limits);
  checkDuration(duration, limits);
  if (video.nb_frames) checkFrameCount(Number(video.nb_frames), limits, 'declares');
  const packets = Number(video.nb_read_packets);
  const counted = Number.isFinite(packets) ? packets : null;
  // The frame-rate limit judges the average rate, or the counted one when the container has none
  // (Matroska often says 0/0): r_frame_rate alone is a guess that can be the time base (1000/1).
  const rate = ratio(video.avg_frame_rate) ?? (counted !== null ? counted / duration : null);
  if (rate !== null) checkFrameRate(rate, limits);
  if (counted !== null) {
    checkFrameCount(counted, limits);
    checkPacketRate(counted, duration, limits);
  }
  return {
    duration,
    width: video.width,
    height: video.height,
    fps,
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
    codec: video.codec_name ?? 'unknown',
    ...(video.pix_fmt ? { pixFmt: video.pix_fmt } : {}),
    sarNum: sarNum && sarDen ? sarNum : 1,
    sarDen: sarNum && sarDen ? sarDen : 1,
    rotation: rotationOf(video),
    frames: video.nb_frames ? Number(video.nb_frames) : null,
  };
}
