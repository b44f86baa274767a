/**
 * HLS packaging of the merged renditions, and the playlists that describe them.
 *
 * Segments are fragmented MP4 (CMAF-style, `-hls_segment_type fmp4`), not
 * MPEG-TS: the tabs' segments and the merged outputs are MP4 already, so
 * packaging is a stream copy into fragments with no remux into another
 * container (no PES/PCR overhead, ~10% smaller than TS), and one init segment
 * per rendition carries the avcC from which CODECS is read exactly. hls.js,
 * Safari and every MSE player take fMP4 (HLS version 7).
 *
 * Video is cut with `-hls_time CHUNK_SECONDS`: ffmpeg cuts at the first
 * keyframe at or after each multiple of it, and every chunk starts with an IDR
 * in every rung and lasts at least CHUNK_SECONDS (the split cuts at the next
 * keyframe after it), so HLS segments fall on chunk starts. Audio (AAC, encoded
 * once for the whole job) is its own rendition group, packaged the same way
 * and referenced by every variant.
 *
 * Stored playlists use relative URIs; the coordinator serves them
 * (routes/hls.ts), rewriting each segment URI to a fresh presigned GET, since
 * storage objects are private.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { runTool, type MediaTools } from './tools.js';

export interface MediaPlaylistSegment {
  uri: string;
  duration: number;
}

export interface PackagedPlaylist {
  /** Directory holding index.m3u8, init.mp4 and seg_NNNN.m4s. */
  dir: string;
  files: string[];
  segments: MediaPlaylistSegment[];
  /** Peak of segment bits / segment duration, bit/s (the init segment is not counted: fetched once). */
  peakBandwidth: number;
  /** Total bits / total duration, bit/s. */
  averageBandwidth: number;
}

export async function packageHls(
  tools: MediaTools,
  opts: { input: string; stream: 'video' | 'audio'; dir: string; segmentSeconds: number },
): Promise<PackagedPlaylist> {
  const map = opts.stream === 'video' ? '0:v:0' : '0:a:0';
  await runTool(
    tools.ffmpeg,
    [
      '-v',
      'error',
      '-nostdin',
      '-y',
      '-i',
      opts.input,
      '-map',
      map,
      '-c',
      'copy',
      '-f',
      'hls',
      '-hls_time',
      String(opts.segmentSeconds),
      '-hls_playlist_type',
      'vod',
      '-hls_segment_type',
      'fmp4',
      '-hls_fmp4_init_filename',
      'init.mp4',
      '-hls_segment_filename',
      path.join(opts.dir, 'seg_%04d.m4s'),
      path.join(opts.dir, 'index.m3u8'),
    ],
    { timeoutMs: 30 * 60_000 },
  );
  const segments = parseMediaPlaylist(await readFile(path.join(opts.dir, 'index.m3u8'), 'utf8'));
  const sizes = await Promise.all(segments.map(async (s) => (await stat(path.join(opts.dir, s.uri))).size));
  const { peak, average } = bandwidths(segments.map((s, i) => ({ bytes: sizes[i]!, duration: s.duration })));
  return { dir: opts.dir, files: (await readdir(opts.dir)).sort(), segments, peakBandwidth: peak, averageBandwidth: average };
}

/** The segments of a media playlist, in order. */
export function parseMediaPlaylist(text: string): MediaPlaylistSegment[] {
  const out: MediaPlaylistSegment[] = [];
  let duration: number | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice('#EXTINF:'.length));
    else if (line && !line.startsWith('#')) {
      if (duration === null || !Number.isFinite(duration)) throw new Error(`media playlist: segment ${line} has no #EXTINF`);
      out.push({ uri: line, duration });
      duration = null;
    }
  }
  return out;
}

export function bandwidths(segments: readonly { bytes: number; duration: number }[]): { peak: number; average: number } {
  let peak = 0;
  let bytes = 0;
  let duration = 0;
  for (const s of segments) {
    if (s.duration > 0) peak = Math.max(peak, (s.bytes * 8) / s.duration);
    bytes += s.bytes;
    duration += s.duration;
  }
  return { peak: Math.ceil(peak), average: duration > 0 ? Math.ceil((bytes * 8) / duration) : 0 };
}

/**
 * RFC 6381 codec string of an H.264 stream from its avcC box (in an init
 * segment or any MP4): avc1.PPCCLL = profile_idc, constraint flags, level_idc.
 */
export function avcCodecString(mp4: Buffer): string {
  const at = mp4.indexOf('avcC', 0, 'latin1');
  if (at < 0 || at + 8 > mp4.length) throw new Error('no avcC box: not an H.264 MP4');
  // box type, then configurationVersion (1), AVCProfileIndication, profile_compatibility, AVCLevelIndication
  const hex = (b: number) => b.toString(16).padStart(2, '0').toUpperCase();
  return `avc1.${hex(mp4[at + 5]!)}${hex(mp4[at + 6]!)}${hex(mp4[at + 7]!)}`;
}

export async function avcCodecStringOfFile(file: string): Promise<string> {
  return avcCodecString(await readFile(file));
}

export interface VariantStream {
  /** Playlist URI relative to the master, e.g. "720p.m3u8". */
  uri: string;
  width: number;
  height: number;
  frameRate: number;
  videoCodec: string;
  /** bit/s, video alone; the audio group's figures are added. */
  peakBandwidth: number;
  averageBandwidth: number;
}

export interface AudioGroup {
  uri: string;
  codec: string;
  channels: number;
  peakBandwidth: number;
  averageBandwidth: number;
}

/**
 * The master playlist. BANDWIDTH is the measured peak segment bitrate of the
 * variant plus that of the audio it plays with (RFC 8216 §4.3.4.2: BANDWIDTH
 * covers every rendition that plays together); AVERAGE-BANDWIDTH likewise.
 * Variants are listed tallest first; players pick by bandwidth anyway.
 */
export function buildMasterPlaylist(variants: readonly VariantStream[], audio: AudioGroup | null): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="${audio.channels}",URI="${audio.uri}"`,
    );
  }
  for (const v of variants) {
    const attrs = [
      `BANDWIDTH=${v.peakBandwidth + (audio?.peakBandwidth ?? 0)}`,
      `AVERAGE-BANDWIDTH=${v.averageBandwidth + (audio?.averageBandwidth ?? 0)}`,
      `RESOLUTION=${v.width}x${v.height}`,
      `CODECS="${audio ? `${v.videoCodec},${audio.codec}` : v.videoCodec}"`,
      `FRAME-RATE=${v.frameRate.toFixed(3)}`,
    ];
    if (audio) attrs.push('AUDIO="aud"');
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * A stored media playlist with every URI (segments and the EXT-X-MAP init
 * segment) replaced by `resolve(uri)`, e.g. a presigned GET of its object.
 */
export async function rewriteMediaPlaylist(text: string, resolve: (uri: string) => Promise<string>): Promise<string> {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    const map = /^#EXT-X-MAP:URI="([^"]+)"(.*)$/.exec(line);
    if (map) out.push(`#EXT-X-MAP:URI="${await resolve(map[1]!)}"${map[2]}`);
    else if (line && !line.startsWith('#')) out.push(await resolve(line));
    else out.push(line);
  }
  return out.join('\n');
}
