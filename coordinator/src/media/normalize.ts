/**
 * Decides whether a source can be split as is (stream copy at keyframes) or
 * first needs a native "mezzanine": constant frame rate at the source's
 * average rate, progressive, 8-bit H.264 with a keyframe every chunk.
 *
 * Splitting as is needs: a codec the tab's ffmpeg.wasm 0.12 core decodes
 * (its build has FFmpeg's own H.264/HEVC/VP8/VP9/MPEG-2/MPEG-4 decoders,
 * 8- and 10-bit, and no AV1 decoder: no dav1d/libaom), constant frame rate
 * (per-chunk frame counts must add up and sync must hold), progressive
 * pictures (the tab does not deinterlace) and keyframes at most
 * 1.5 × CHUNK_SECONDS apart (otherwise chunks get long and unbalanced; one
 * keyframe a minute gives one giant chunk), and video that starts with the
 * file (otherwise it would drift from the audio). Pixel format, odd sizes,
 * non-square pixels and rotation need nothing: the tab scales, rotates
 * (EncodeParams.rotation) and converts to yuv420p itself.
 */
import { checkDuration, checkFrameCount, checkPacketRate, DEFAULT_SOURCE_LIMITS, type SourceLimits } from './source-limits.js';
import { runTool, type MediaTools } from './tools.js';

export type NormalizeReason = 'codec' | 'vfr' | 'interlaced' | 'sparse_keyframes' | 'start_offset';

export interface SourceAnalysis {
  readonly reasons: NormalizeReason[];
  /** Largest gap between keyframes, seconds. */
  readonly maxKeyframeGap: number;
  readonly frameRate: string;
  /** The demuxer's complaint when the file is cut short or damaged, else null. */
  readonly damaged: string | null;
}

/** Demuxer messages that mean the file is cut short or damaged (a clean file prints none of these). */
const DAMAGE = /ended prematurely|truncat|invalid data found|corrupt|incomplete/i;

/** Decoders present in @ffmpeg/core 0.12 (FFmpeg 5.1 native decoders). */
const WASM_DECODABLE = new Set(['h264', 'hevc', 'vp8', 'vp9', 'mpeg2video', 'mpeg4', 'mpeg1video']);

/** The packet scan's time limit: demuxing is ~1 s per hour of 30 fps video, and the count is capped by MAX_SOURCE_FRAMES. */
const SCAN_TIMEOUT_MS = 10 * 60_000;

interface ScannedStream {
  codec_name?: string;
  field_order?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
}

/** `section|key=value|key=value` (ffprobe's compact writer) → section and fields. */
function compactLine(line: string): { section: string; fields: Record<string, string> } {
  const [section = '', ...pairs] = line.split('|');
  const fields: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { section, fields };
}

/**
 * One demux pass over the video packets (no decoding: ~1 s per hour of
 * 30 fps video) gives keyframe spacing and timestamp regularity. ffprobe
 * prints one compact line per packet, read as it comes, never one JSON
 * document: a file of 2,000,000 tiny packets printed 248 MB of JSON
 * (docs/facts.md, "Split and merge"). The scan stops as soon as the file is
 * over MAX_SOURCE_FRAMES packets, and a file whose timestamps span more than
 * MAX_DURATION_SECONDS, or with more packets per second than
 * MAX_SOURCE_PACKET_RATE, is refused (SourceLimitError): the mezzanine's
 * constant-rate output would fill every gap with frames.
 */
export async function analyzeSource(
  tools: MediaTools,
  file: string,
  chunkSeconds: number,
  limits: SourceLimits = DEFAULT_SOURCE_LIMITS,
): Promise<SourceAnalysis> {
  let stream: ScannedStream = {};
  let formatStart: string | undefined;
  const times: number[] = [];
  const keys: number[] = [];
  let packets = 0;
  const { stderr } = await runTool(
    tools.ffprobe,
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'format=start_time:stream=codec_name,field_order,avg_frame_rate,r_frame_rate:packet=pts_time,dts_time,flags',
      '-of',
      'compact',
      file,
    ],
    {
      timeoutMs: SCAN_TIMEOUT_MS,
      onStdoutLine: (line) => {
        const { section, fields } = compactLine(line);
        if (section === 'packet') {
          packets++;
          if (packets > limits.maxFrames) checkFrameCount(packets, limits);
          const pts = Number(fields.pts_time);
          const at = Number.isFinite(pts) ? pts : Number(fields.dts_time);
          if (!Number.isFinite(at)) return;
          times.push(at);
          if (fields.flags?.includes('K')) keys.push(at);
        } else if (section === 'stream') stream = fields;
        else if (section === 'format') formatStart = fields.start_time;
      },
    },
  );
  times.sort((a, b) => a - b);
  keys.sort((a, b) => a - b);
  const end = times.length ? times[times.length - 1]! : 0;
  const span = times.length ? end - times[0]! : 0;
  checkDuration(span, limits);
  checkPacketRate(packets, span, limits);
  let maxKeyframeGap = keys.length ? keys[0]! : end;
  for (let i = 1; i <= keys.length; i++) {
    const next = i < keys.length ? keys[i]! : end;
    maxKeyframeGap = Math.max(maxKeyframeGap, next - keys[i - 1]!);
  }

  const reasons: NormalizeReason[] = [];
  if (!WASM_DECODABLE.has(stream.codec_name ?? '')) reasons.push('codec');
  if (isVariableFrameRate(times)) reasons.push('vfr');
  if (stream.field_order && !['progressive', 'unknown'].includes(stream.field_order)) reasons.push('interlaced');
  if (maxKeyframeGap > chunkSeconds * 1.5) reasons.push('sparse_keyframes');
  const frameRate = targetRate(stream, reasons.includes('vfr'));
  // Chunks restart at 0 and the audio is encoded from the file's start, so
  // video that starts later than the file (audio first, or a B-frame delay
  // kept in Matroska) would play early. The mezzanine's CFR output fills the
  // gap with the first frame instead (measured: video 0.52 s late → 16 frames
  // added, starting at 0).
  const [rn, rd = 1] = frameRate.split('/').map(Number);
  // A negative file start is audio encoder priming (AAC in Matroska: -0.021 s), not content: ignored.
  const fileStart = Math.max(0, Number(formatStart) || 0);
  if (times.length && times[0]! - fileStart > 1 / (rn! / rd) + 1e-3) reasons.push('start_offset');
  const damaged =
    stderr
      .split('\n')
      .find((l) => DAMAGE.test(l))
      ?.replace(/^\[[^\]]*\]\s*/, '')
      .trim() ?? null;
  return { reasons, maxKeyframeGap, frameRate, damaged };
}

/**
 * The constant rate to normalise to. For VFR the average is the wrong
 * choice: a phone clip with 2 s at 30 fps and 3 s at 10 fps averages 18 fps
 * in MP4, and resampling to 18 would drop frames from the 30 fps part. The
 * nominal rate (r_frame_rate: the lowest rate that represents every
 * timestamp) keeps every frame and only duplicates in the gaps; it is used
 * when it is at least the average and a plausible video rate (≤ 120).
 */
function targetRate(stream: { avg_frame_rate?: string; r_frame_rate?: string }, vfr: boolean): string {
  const avg = usableRate(stream.avg_frame_rate);
  const nominal = usableRate(stream.r_frame_rate);
  const value = (r: string) =>
    r
      .split('/')
      .map(Number)
      .reduce((n, d) => n / d);
  if (vfr && nominal && value(nominal) <= 120 && (!avg || value(nominal) >= value(avg) - 1e-6)) return nominal;
  return avg ?? nominal ?? '30';
}

function usableRate(r: string | undefined): string | null {
  if (!r) return null;
  const [n, d] = r.split('/').map(Number);
  return n && d && n / d > 0 && n / d <= 240 ? r : null;
}

/**
 * Variable when a frame interval is off the median by more than 40 %.
 * Millisecond timebases (Matroska, WebM) round 29.97 fps to 33/34 ms
 * intervals: 3 %, well inside; a dropped frame in a screen recording is 100 %.
 */
export function isVariableFrameRate(sortedTimes: readonly number[]): boolean {
  if (sortedTimes.length < 3) return false;
  const deltas: number[] = [];
  for (let i = 1; i < sortedTimes.length; i++) deltas.push(sortedTimes[i]! - sortedTimes[i - 1]!);
  const median = [...deltas].sort((a, b) => a - b)[Math.floor(deltas.length / 2)]!;
  if (!(median > 0)) return true;
  return deltas.some((d) => Math.abs(d - median) > median * 0.4);
}

/**
 * Native mezzanine, video only (audio is encoded once from the original).
 * - `-noautorotate`: keep the coded picture; the tab applies the probed
 *   rotation from EncodeParams, so the ladder math stays as it is.
 * - bwdif in send_frame mode: one progressive frame per interlaced frame,
 *   the frame rate is unchanged.
 * - fps filter to the source's rate (targetRate): constant rate, frames dropped or
 *   duplicated to keep each on its timestamp, so sync with the original
 *   audio holds; the output starts at 0 like the stream-copied chunks.
 * - a forced keyframe every chunkSeconds and no scene-cut keyframes, so the
 *   segment muxer cuts exactly there.
 * - crf 14 veryfast: visually transparent intermediate (see docs for cost).
 */
export async function makeMezzanine(
  tools: MediaTools,
  source: string,
  out: string,
  opts: { frameRate: string; chunkSeconds: number; interlaced: boolean; oddSize: boolean },
): Promise<void> {
  const filters = [
    ...(opts.interlaced ? ['bwdif=mode=send_frame:parity=auto:deint=all'] : []),
    `fps=${opts.frameRate}`,
    // x264 cannot encode 4:2:0 at odd sizes; 4:4:4 keeps every pixel and the tab converts.
    `format=${opts.oddSize ? 'yuv444p' : 'yuv420p'}`,
  ];
  await runTool(
    tools.ffmpeg,
    [
      '-v',
      'error',
      '-nostdin',
      '-y',
      '-noautorotate',
      '-i',
      source,
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      filters.join(','),
      '-fps_mode',
      'cfr',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '14',
      '-force_key_frames',
      `expr:gte(t,n_forced*${opts.chunkSeconds})`,
      '-sc_threshold',
      '0',
      '-f',
      'matroska',
      out,
    ],
    { timeoutMs: 6 * 60 * 60_000 },
  );
}
