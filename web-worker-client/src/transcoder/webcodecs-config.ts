/**
 * Pure helpers of the WebCodecs transcoder: EncodeParams → the
 * VideoEncoderConfig one rung is encoded with, the H.264 level that size and
 * rate need, and the frame rate a chunk's timestamps describe. No I/O and no
 * browser globals, so Vitest runs them in Node.
 *
 * Chromium without a GPU encodes H.264 with OpenH264: Constrained Baseline
 * whatever profile is asked, bitrate modes only (docs/facts.md, "WebCodecs
 * in Chromium on Linux without a GPU"). So we ask for Constrained Baseline
 * (42E0) outright, at the lowest level that fits the rung, and a bitrate the
 * coordinator calibrated against x264 (EncodeParams.bitrateKbps).
 */
import type { EncodeParams } from '@tabgrid/shared';

/** H.264 levels (Table A-1): max macroblocks per second and per frame. */
const LEVELS: readonly { readonly idc: number; readonly mbps: number; readonly fs: number }[] = [
  { idc: 30, mbps: 40_500, fs: 1_620 },
  { idc: 31, mbps: 108_000, fs: 3_600 },
  { idc: 32, mbps: 216_000, fs: 5_120 },
  { idc: 40, mbps: 245_760, fs: 8_192 },
  { idc: 42, mbps: 522_240, fs: 8_704 },
  { idc: 50, mbps: 589_824, fs: 22_080 },
  { idc: 51, mbps: 983_040, fs: 36_864 },
  { idc: 52, mbps: 2_073_600, fs: 36_864 },
  { idc: 60, mbps: 4_177_920, fs: 139_264 },
  { idc: 61, mbps: 8_355_840, fs: 139_264 },
  { idc: 62, mbps: 16_711_680, fs: 139_264 },
];

/** The lowest level_idc whose frame size and macroblock rate hold `width`×`height` at `fps` (3.0 at least). */
export function h264Level(width: number, height: number, fps: number): number {
  const mbs = Math.ceil(width / 16) * Math.ceil(height / 16);
  const rate = mbs * Math.max(1, fps);
  const fit = LEVELS.find((l) => mbs <= l.fs && rate <= l.mbps);
  return (fit ?? LEVELS[LEVELS.length - 1]!).idc;
}

/** `avc1.42E0LL`: Constrained Baseline (profile 66, constraint_set0+1), level LL. */
export function avcCodecString(width: number, height: number, fps: number): string {
  return `avc1.42E0${h264Level(width, height, fps).toString(16).toUpperCase().padStart(2, '0')}`;
}

/** The encoder configuration of one rung; throws when the rung has no bitrate (not a WebCodecs task). */
export function encoderConfig(params: EncodeParams, fps: number): VideoEncoderConfig {
  if (params.encoder !== 'webcodecs' || params.bitrateKbps === undefined) {
    throw new Error(`rung ${params.rendition} is not a WebCodecs task (encoder ${params.encoder ?? 'x264'}, no bitrate)`);
  }
  return {
    codec: avcCodecString(params.width, params.height, fps),
    width: params.width,
    height: params.height,
    // Chromium scales a frame of another size to this one inside the encoder:
    // faster than a canvas and without its chroma damage (docs/facts.md).
    bitrate: params.bitrateKbps * 1000,
    bitrateMode: 'variable',
    framerate: fps,
    latencyMode: 'quality',
    // OpenH264 wherever Chromium runs: the bitrates are calibrated for it, and
    // a rendition's segments from different machines should share one codec
    // configuration (a hardware encoder would bring Main/High and CABAC).
    hardwareAcceleration: 'prefer-software',
    avc: { format: 'avc' },
  };
}

/**
 * The SPS and PPS of an avcC record (ISO 14496-15 5.2.4.1), each NAL
 * prefixed by its length in the record's NAL length size, ready to put in
 * front of a keyframe's NALs. Throws on a record that is not version 1 or
 * is cut short.
 */
export function parameterSetsOf(avcC: Uint8Array): Uint8Array {
  const bad = (why: string): never => {
    throw new Error(`not an avcC record: ${why}`);
  };
  if (avcC.length < 7 || avcC[0] !== 1) bad('version is not 1');
  const lengthSize = (avcC[4]! & 0x03) + 1;
  const nals: Uint8Array[] = [];
  let at = 6;
  const take = (count: number) => {
    for (let i = 0; i < count; i++) {
      if (at + 2 > avcC.length) bad('cut short');
      const len = (avcC[at]! << 8) | avcC[at + 1]!;
      at += 2;
      if (at + len > avcC.length) bad('cut short');
      nals.push(avcC.subarray(at, at + len));
      at += len;
    }
  };
  take(avcC[5]! & 0x1f);
  if (at >= avcC.length) bad('no PPS count');
  take(avcC[at++]!);
  const out = new Uint8Array(nals.reduce((n, x) => n + lengthSize + x.length, 0));
  let o = 0;
  for (const nal of nals) {
    for (let b = lengthSize - 1; b >= 0; b--) out[o++] = (nal.length >>> (8 * b)) & 0xff;
    out.set(nal, o);
    o += nal.length;
  }
  return out;
}

/** Rates a camera or an encoder is set to; a chunk's measured rate is snapped to one of them. */
const NOMINAL_RATES: readonly number[] = [
  ...[24, 30, 48, 60, 120, 240].map((r) => (r * 1000) / 1001),
  ...Array.from({ length: 240 }, (_, i) => i + 1),
];

/**
 * The frame rate of a chunk from its presentation timestamps (seconds, any
 * order): (n − 1) frames over the span from the first to the last, snapped
 * to a nominal rate within 0.2 %, since Matroska chunks store timestamps in
 * whole milliseconds (30 fps reads as 0, 33, 67 … ms). Null when there are
 * fewer than two frames or the rate is no nominal one (a variable rate):
 * then the segment keeps the chunk's own timestamps.
 */
export function nominalFrameRate(timestamps: readonly number[]): number | null {
  if (timestamps.length < 2) return null;
  const span = Math.max(...timestamps) - Math.min(...timestamps);
  if (!(span > 0)) return null;
  const measured = (timestamps.length - 1) / span;
  let best: number | null = null;
  for (const r of NOMINAL_RATES) {
    if (Math.abs(measured - r) / r <= 0.002 && (best === null || Math.abs(measured - r) < Math.abs(measured - best))) best = r;
  }
  return best;
}
