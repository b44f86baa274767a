/**
 * Probes an uploaded source with ffprobe and decides whether it is a video
 * the grid can transcode. Anything else is a PermanentError whose message a
 * user can act on.
 */
import { PermanentError } from '../errors.js';
import type { SourceMetadata } from '../db/schema.js';
import { runTool, type MediaTools } from './tools.js';

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
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

export async function probeSource(tools: MediaTools, file: string): Promise<SourceMetadata> {
  let out: ProbeOutput;
  try {
    const { stdout } = await runTool(tools.ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], {
      timeoutMs: 60_000,
    });
    out = JSON.parse(stdout) as ProbeOutput;
  } catch (err) {
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
  return {
    duration,
    width: video.width,
    height: video.height,
    fps,
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
    codec: video.codec_name ?? 'unknown',
    sarNum: sarNum && sarDen ? sarNum : 1,
    sarDen: sarNum && sarDen ? sarDen : 1,
    rotation: rotationOf(video),
    frames: video.nb_frames ? Number(video.nb_frames) : null,
  };
}
