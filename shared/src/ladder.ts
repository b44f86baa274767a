/**
 * The rendition ladder: which rungs a source gets and at what size.
 *
 * A rung names the short side of the *displayed* picture (pixel aspect and
 * rotation applied), so a portrait phone video's 720p is 720 wide and 1280
 * high. Rungs above the source's short side are dropped (no upscaling); the
 * other side follows the display aspect ratio, rounded to an even number
 * because 4:2:0 chroma needs even dimensions.
 */
import { z } from 'zod';

export interface RungSpec {
  /** Short side of the displayed picture, in pixels. */
  readonly shortSide: number;
  /** x264 constant rate factor. */
  readonly crf: number;
  /** Peak bitrate cap (VBV maxrate), kbit/s. */
  readonly maxrateKbps: number;
}

/** Known rungs, tallest first. Caps follow common ABR ladders for H.264 at these sizes. */
export const RUNGS = {
  '2160p': { shortSide: 2160, crf: 23, maxrateKbps: 16000 },
  '1440p': { shortSide: 1440, crf: 23, maxrateKbps: 10000 },
  '1080p': { shortSide: 1080, crf: 23, maxrateKbps: 6000 },
  '720p': { shortSide: 720, crf: 23, maxrateKbps: 3000 },
  '480p': { shortSide: 480, crf: 23, maxrateKbps: 1500 },
  '360p': { shortSide: 360, crf: 23, maxrateKbps: 800 },
  '240p': { shortSide: 240, crf: 23, maxrateKbps: 400 },
} as const satisfies Record<string, RungSpec>;

export type RenditionName = keyof typeof RUNGS;
export const RENDITION_NAMES = Object.keys(RUNGS) as RenditionName[];
export const renditionNameSchema = z.enum(RENDITION_NAMES as [RenditionName, ...RenditionName[]]);

/** Parses "720p,480p,360p" into known rung names, tallest first, without duplicates. */
export function parseRenditionList(value: string): RenditionName[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error('the rendition list is empty; give e.g. "720p,480p,360p"');
  const unknown = names.filter((n) => !(n in RUNGS));
  if (unknown.length > 0) {
    throw new Error(`unknown rendition(s) ${unknown.join(', ')}; known: ${RENDITION_NAMES.join(', ')}`);
  }
  const unique = [...new Set(names)] as RenditionName[];
  return unique.sort((a, b) => RUNGS[b].shortSide - RUNGS[a].shortSide);
}

export interface SourceGeometry {
  /** Coded width and height of the video stream. */
  readonly width: number;
  readonly height: number;
  /** Sample (pixel) aspect ratio as num/den; 1/1 for square pixels. */
  readonly sarNum: number;
  readonly sarDen: number;
  /** Clockwise rotation to apply for display: 0, 90, 180 or 270. */
  readonly rotation: 0 | 90 | 180 | 270;
}

export interface PlannedRendition {
  readonly name: RenditionName;
  /** Output frame size as displayed (rotation applied), square pixels, even. */
  readonly width: number;
  readonly height: number;
  readonly crf: number;
  readonly maxrateKbps: number;
  readonly bufsizeKbps: number;
}

const roundEven = (x: number): number => Math.max(2, Math.round(x / 2) * 2);
const floorEven = (x: number): number => Math.max(2, Math.floor(x / 2) * 2);

/** The displayed size of the source: pixel aspect applied to the width, then rotation. */
export function displaySize(g: SourceGeometry): { width: number; height: number } {
  const sar = g.sarNum > 0 && g.sarDen > 0 ? g.sarNum / g.sarDen : 1;
  const w = g.width * sar;
  const h = g.height;
  return g.rotation === 90 || g.rotation === 270 ? { width: h, height: w } : { width: w, height: h };
}

/**
 * Plans the ladder for a source. Rungs taller than the source are dropped;
 * when every requested rung is taller, the smallest one is kept at the
 * source's own short side so that every job yields at least one rendition.
 */
export function planLadder(source: SourceGeometry, requested: readonly RenditionName[]): PlannedRendition[] {
  const display = displaySize(source);
  const short = Math.min(display.width, display.height);
  const long = Math.max(display.width, display.height);
  const landscape = display.width >= display.height;
  const sorted = [...new Set(requested)].sort((a, b) => RUNGS[b].shortSide - RUNGS[a].shortSide);
  let fitting = sorted.filter((name) => RUNGS[name].shortSide <= short);
  let clampTo: number | undefined;
  if (fitting.length === 0 && sorted.length > 0) {
    fitting = [sorted[sorted.length - 1]!];
    clampTo = short;
  }
  return fitting.map((name) => {
    const rung = RUNGS[name];
    // Rounding may never push a side past the source's own (no upscaling, not even by a pixel).
    const outShort = clampTo !== undefined ? floorEven(clampTo) : roundEven(rung.shortSide);
    const outLong = Math.min(roundEven((outShort * long) / short), floorEven(long));
    return {
      name,
      width: landscape ? outLong : outShort,
      height: landscape ? outShort : outLong,
      crf: rung.crf,
      maxrateKbps: rung.maxrateKbps,
      bufsizeKbps: rung.maxrateKbps * 2,
    };
  });
}
