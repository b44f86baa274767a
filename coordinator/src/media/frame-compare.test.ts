import { describe, expect, it } from 'vitest';
import { type FrameMeasure, FrameComparer, TILE_GRID } from './frame-compare.js';
import { framesDigest, judgeContent, shiftRatio } from './content-check.js';

const W = 64;
const H = 48;

/** A picture: a diagonal gradient that moves `t` pixels right, with chroma following it. */
function picture(t: number): { y: Uint8Array; u: Uint8Array; v: Uint8Array } {
  const y = new Uint8Array(W * H);
  for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) y[r * W + c] = ((c + t) * 7 + r * 3) & 0xff;
  const u = new Uint8Array((W / 2) * (H / 2)).map((_, i) => (i * 5 + t) & 0xff);
  const v = new Uint8Array((W / 2) * (H / 2)).map((_, i) => (i * 3 + 2 * t) & 0xff);
  return { y, u, v };
}

/** The vstack layout ffmpeg produces: segment on top of reference in each plane. */
function stacked(seg: ReturnType<typeof picture>, ref: ReturnType<typeof picture>): Uint8Array {
  const out = new Uint8Array(W * H * 3);
  out.set(seg.y, 0);
  out.set(ref.y, W * H);
  const c = (W / 2) * (H / 2);
  out.set(seg.u, W * H * 2);
  out.set(ref.u, W * H * 2 + c);
  out.set(seg.v, W * H * 2 + 2 * c);
  out.set(ref.v, W * H * 2 + 3 * c);
  return out;
}

function measureAll(pairs: [ReturnType<typeof picture>, ReturnType<typeof picture>][]): FrameMeasure[] {
  const comparer = new FrameComparer(W, H);
  return pairs.map(([s, r]) => comparer.measure(stacked(s, r)));
}

describe('FrameComparer', () => {
  it('scores identical pictures perfectly and hashes the segment frame only', () => {
    const [m] = measureAll([[picture(0), picture(0)]]);
    expect(m).toMatchObject({ psnr: 100, tilePsnr: 100 });
    expect(m!.ssim).toBeCloseTo(1, 6);
    const [other] = measureAll([[picture(0), picture(5)]]);
    expect(other!.hash, 'the hash is of the decoded segment frame, not the pair').toBe(m!.hash);
    expect(measureAll([[picture(1), picture(0)]])[0]!.hash).not.toBe(m!.hash);
  });

  it('sees a box over one tile in the worst tile, barely in the whole frame', () => {
    const seg = picture(0);
    // Fill one tile (W/8 × H/8) with white.
    for (let r = 0; r < H / TILE_GRID; r++) for (let c = 0; c < W / TILE_GRID; c++) seg.y[(r + H / 2) * W + c + W / 2] = 255;
    const [m] = measureAll([[seg, picture(0)]]);
    expect(m!.tilePsnr).toBeLessThan(12);
    expect(m!.psnr).toBeGreaterThan(m!.tilePsnr + 15);
  });

  it('tells a segment one frame late from an honest one on moving pictures', () => {
    const honest = measureAll(
      Array.from({ length: 10 }, (_, i) => [picture(i), picture(i)] as [ReturnType<typeof picture>, ReturnType<typeof picture>]),
    );
    const late = measureAll(
      Array.from(
        { length: 10 },
        (_, i) => [picture(Math.max(0, i - 1)), picture(i)] as [ReturnType<typeof picture>, ReturnType<typeof picture>],
      ),
    );
    const early = measureAll(
      Array.from({ length: 10 }, (_, i) => [picture(i + 1), picture(i)] as [ReturnType<typeof picture>, ReturnType<typeof picture>]),
    );
    expect(shiftRatio(honest).ratio).toBe(Number.POSITIVE_INFINITY);
    expect(shiftRatio(late)).toMatchObject({ direction: 'a frame late' });
    expect(shiftRatio(late).ratio).toBeLessThan(0.2);
    expect(shiftRatio(early)).toMatchObject({ direction: 'a frame early' });
    expect(shiftRatio(early).ratio).toBeLessThan(0.2);
  });

  it('handles sizes that are not multiples of 4 and refuses odd ones', () => {
    const comparer = new FrameComparer(426, 240);
    const frame = new Uint8Array(comparer.stackedBytes).fill(128);
    expect(comparer.measure(frame)).toMatchObject({ psnr: 100, tilePsnr: 100 });
    expect(() => new FrameComparer(427, 240)).toThrow(RangeError);
  });
});

describe('judgeContent', () => {
  const frames = (n: number, over: (i: number) => Partial<FrameMeasure> = () => ({})): FrameMeasure[] =>
    Array.from({ length: n }, (_, i) => ({
      psnr: 40,
      ssim: 0.98,
      tilePsnr: 30,
      shiftBack: 900,
      shiftAhead: 900,
      own: 10,
      hash: `h${i}`,
      ...over(i),
    }));
  const t = { ssim: 0.5, psnr: 20, tilePsnr: 15 };

  it('accepts good frames and digests their hashes in order', () => {
    const v = judgeContent({ frames: frames(4), elapsedMs: 1 }, { rendition: '480p', frames: 4, thresholds: t });
    expect(v).toMatchObject({
      ok: true,
      worst: { ssim: 0.98, psnr: 40, tilePsnr: 30 },
      framesSha256: framesDigest(['h0', 'h1', 'h2', 'h3']),
    });
    expect(framesDigest(['h0', 'h1'])).not.toBe(framesDigest(['h1', 'h0']));
  });

  it('names the worst frame and its score next to the threshold it missed', () => {
    const low = (at: number, over: Partial<FrameMeasure>) => (i: number) => (i === at ? over : {});
    expect(
      judgeContent({ frames: frames(5, low(3, { ssim: 0.2 })), elapsedMs: 1 }, { rendition: '480p', frames: 5, thresholds: t }),
    ).toMatchObject({
      ok: false,
      reason: "frame 4 of 5 does not show the chunk: SSIM 0.200 is below 480p's threshold 0.500",
    });
    expect(
      judgeContent({ frames: frames(5, low(0, { psnr: 9.04 })), elapsedMs: 1 }, { rendition: '360p', frames: 5, thresholds: t }),
    ).toMatchObject({
      ok: false,
      reason: "frame 1 of 5 does not show the chunk: PSNR 9.0 dB is below 360p's threshold 20.0 dB",
    });
    expect(
      judgeContent({ frames: frames(5, low(4, { tilePsnr: 8 })), elapsedMs: 1 }, { rendition: '360p', frames: 5, thresholds: t }),
    ).toMatchObject({
      ok: false,
      reason: expect.stringContaining("frame 5 of 5 differs from the chunk in part of the picture: its worst tile's PSNR 8.0 dB"),
    });
    const shifted = frames(5, () => ({ own: 1000, shiftBack: 10 }));
    expect(judgeContent({ frames: shifted, elapsedMs: 1 }, { rendition: '360p', frames: 5, thresholds: t })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('shifted by one (a frame late)'),
    });
  });

  it('refuses a segment whose frames do not all pair with the chunk', () => {
    expect(judgeContent({ frames: frames(3), elapsedMs: 1 }, { rendition: '480p', frames: 4, thresholds: t })).toEqual({
      ok: false,
      reason: "only 3 of the segment's frames pair with the chunk's 4",
    });
  });
});
