/**
 * Per-frame comparison of two pictures of the same size, as the content
 * check sees them: one raw yuv420p frame holding the segment's frame on top
 * and the reference (the chunk's frame through the tab's filter chain)
 * below it (ffmpeg's `vstack`). Pure arithmetic on typed arrays, no I/O.
 *
 * Per frame it measures
 *   - PSNR over the whole picture (all planes, weighted by sample count as
 *     ffmpeg's `psnr` filter's average: Y counts 4, U and V 1 each);
 *   - SSIM of the luma, 8×8 windows on a 4-pixel grid, with the constants
 *     and the 4×4-sum method of ffmpeg's `ssim` filter (so a score here
 *     reads like one from ffmpeg);
 *   - the worst tile's PSNR on an 8×8 grid of tiles: a box drawn over part
 *     of the picture hardly moves the frame's average but wrecks its tile;
 *   - luma squared error against the previous reference frame and of the
 *     previous segment frame against this reference, for the one-frame-shift
 *     test (a shifted segment matches its neighbours better than itself);
 *   - sha256 of the segment frame's decoded samples: what replicas from
 *     deterministic encoders must agree on (decoded pictures, never
 *     container bytes).
 */
import { createHash } from 'node:crypto';

/** Tiles per side of the worst-tile PSNR grid. */
export const TILE_GRID = 8;

export interface FrameMeasure {
  psnr: number;
  ssim: number;
  /** PSNR of the worst of the TILE_GRID × TILE_GRID tiles. */
  tilePsnr: number;
  /** Luma SSE (half resolution) of this segment frame against reference frame i-1, and of segment frame i-1 against reference i; null on frame 0. */
  shiftBack: number | null;
  shiftAhead: number | null;
  /** Luma SSE (half resolution) of this frame against its own reference frame, comparable with the two above. */
  own: number;
  /** sha256 (hex) of the segment frame's Y, U and V samples. */
  hash: string;
}

const SSIM_C1 = Math.round(0.01 * 0.01 * 255 * 255 * 64);
const SSIM_C2 = Math.round(0.03 * 0.03 * 255 * 255 * 64 * 63);
/** PSNR of an 8-bit mean squared error; 100 dB for identical pictures (ffmpeg prints inf). */
export const psnrOf = (mse: number): number => (mse > 0 ? Math.min(100, 10 * Math.log10((255 * 255) / mse)) : 100);

/** Compares segment and reference frame after frame; holds the previous frame's luma for the shift test. */
export class FrameComparer {
  /** Bytes of one stacked frame: (W × 2H) luma plus two (W/2 × H) chroma planes. */
  readonly stackedBytes: number;
  private readonly bw: number;
  private readonly bh: number;
  private readonly s1: Int32Array;
  private readonly s2: Int32Array;
  private readonly ss: Int32Array;
  private readonly s12: Int32Array;
  private readonly tileSse: Float64Array;
  private readonly tileCount: Float64Array;
  private readonly tileOfX: Uint8Array;
  private readonly tileOfY: Uint8Array;
  /** First chroma column of each tile, and the chroma width at the end. */
  private readonly chromaTileStart: Int32Array;
  private prevSeg: Uint8Array | null = null;
  private prevRef: Uint8Array | null = null;

  constructor(
    private readonly width: number,
    private readonly height: number,
  ) {
    if (width % 2 || height % 2 || width < 8 || height < 8)
      throw new RangeError(`frame size ${width}x${height} must be even and at least 8x8`);
    this.stackedBytes = width * height * 3;
    this.bw = Math.floor(width / 4);
    this.bh = Math.floor(height / 4);
    const blocks = this.bw * this.bh;
    this.s1 = new Int32Array(blocks);
    this.s2 = new Int32Array(blocks);
    this.ss = new Int32Array(blocks);
    this.s12 = new Int32Array(blocks);
    this.tileSse = new Float64Array(TILE_GRID * TILE_GRID);
    this.tileCount = new Float64Array(TILE_GRID * TILE_GRID);
    this.tileOfX = Uint8Array.from({ length: width }, (_, x) => Math.min(TILE_GRID - 1, Math.floor((x * TILE_GRID) / width)));
    this.tileOfY = Uint8Array.from({ length: height }, (_, y) => Math.min(TILE_GRID - 1, Math.floor((y * TILE_GRID) / height)));
    // Chroma column x sits at luma column 2x: it belongs to the tile of that column.
    this.chromaTileStart = Int32Array.from({ length: TILE_GRID + 1 }, (_, t) => {
      const cw = width / 2;
      let x = 0;
      while (x < cw && this.tileOfX[x * 2]! < t) x++;
      return t === TILE_GRID ? cw : x;
    });
  }

  /** Measures one stacked frame (exactly `stackedBytes` long). */
  measure(frame: Uint8Array): FrameMeasure {
    const { width: w, height: h } = this;
    const lumaRef = w * h;
    const cw = w / 2;
    const ch = h / 2;
    const uStart = w * h * 2;
    const vStart = uStart + cw * h;
    this.tileSse.fill(0);
    this.tileCount.fill(0);

    // Luma, one 4×4 block at a time: its sums (for SSIM) and its squared
    // error, added to the tile it starts in. Integer arithmetic (`| 0`):
    // a block's sums stay far below 2^31 and V8 keeps them in registers.
    const f = frame;
    let lumaSse = 0;
    const { s1, s2, ss, s12, tileSse, tileCount, tileOfX, tileOfY, bw, bh } = this;
    for (let by = 0; by < bh; by++) {
      const tileRow = tileOfY[by * 4]! * TILE_GRID;
      const rowStart = by * 4 * w;
      for (let bx = 0; bx < bw; bx++) {
        let a1 = 0;
        let b1 = 0;
        let q = 0;
        let ab = 0;
        for (let p = rowStart + bx * 4, dy = 0; dy < 4; dy++, p += w) {
          for (let dx = 0; dx < 4; dx++) {
            const a = f[p + dx]! | 0;
            const b = f[lumaRef + p + dx]! | 0;
            a1 = (a1 + a) | 0;
            b1 = (b1 + b) | 0;
            q = (q + a * a + b * b) | 0;
            ab = (ab + a * b) | 0;
          }
        }
        const k = by * bw + bx;
        s1[k] = a1;
        s2[k] = b1;
        ss[k] = q;
        s12[k] = ab;
        const e = q - 2 * ab;
        lumaSse += e;
        const tile = tileRow + tileOfX[bx * 4]!;
        tileSse[tile]! += e;
        tileCount[tile]! += 16;
      }
    }
    // Rows and columns past the last whole block (sizes that are not multiples of 4).
    for (let y = 0; y < h; y++) {
      const tileRow = tileOfY[y]! * TILE_GRID;
      for (let x = y < bh * 4 ? bw * 4 : 0; x < w; x++) {
        const d = f[y * w + x]! - f[lumaRef + y * w + x]!;
        lumaSse += d * d;
        const tile = tileRow + tileOfX[x]!;
        tileSse[tile]! += d * d;
        tileCount[tile]! += 1;
      }
    }

    // Chroma: squared error per tile, one run of columns per tile.
    let chromaSse = 0;
    for (const start of [uStart, vStart]) {
      const refStart = start + cw * ch;
      for (let y = 0; y < ch; y++) {
        const tileRow = tileOfY[y * 2]! * TILE_GRID;
        const row = start + y * cw;
        const refRow = refStart + y * cw;
        for (let tx = 0; tx < TILE_GRID; tx++) {
          const x0 = this.chromaTileStart[tx]!;
          const x1 = this.chromaTileStart[tx + 1]!;
          let e = 0;
          for (let x = x0; x < x1; x++) {
            const d = (f[row + x]! - f[refRow + x]!) | 0;
            e = (e + d * d) | 0;
          }
          chromaSse += e;
          tileSse[tileRow + tx]! += e;
          tileCount[tileRow + tx]! += x1 - x0;
        }
      }
    }

    // SSIM over 8×8 windows made of 2×2 neighbouring 4×4 blocks (ffmpeg's ssim_4x4x2_core + ssim_end1).
    let ssimSum = 0;
    let windows = 0;
    for (let by = 0; by + 1 < this.bh; by++) {
      for (let bx = 0; bx + 1 < this.bw; bx++) {
        const k = by * this.bw + bx;
        const k2 = k + this.bw;
        const s1 = this.s1[k]! + this.s1[k + 1]! + this.s1[k2]! + this.s1[k2 + 1]!;
        const s2 = this.s2[k]! + this.s2[k + 1]! + this.s2[k2]! + this.s2[k2 + 1]!;
        const ss = this.ss[k]! + this.ss[k + 1]! + this.ss[k2]! + this.ss[k2 + 1]!;
        const s12 = this.s12[k]! + this.s12[k + 1]! + this.s12[k2]! + this.s12[k2 + 1]!;
        const vars = ss * 64 - s1 * s1 - s2 * s2;
        const covar = s12 * 64 - s1 * s2;
        ssimSum += ((2 * s1 * s2 + SSIM_C1) * (2 * covar + SSIM_C2)) / ((s1 * s1 + s2 * s2 + SSIM_C1) * (vars + SSIM_C2));
        windows++;
      }
    }

    let worstTile = Number.POSITIVE_INFINITY;
    for (let t = 0; t < this.tileSse.length; t++) {
      if (this.tileCount[t]! > 0) worstTile = Math.min(worstTile, psnrOf(this.tileSse[t]! / this.tileCount[t]!));
    }

    // The one-frame-shift test on half-resolution luma (every other row and column: a quarter of the work).
    const seg = frame.subarray(0, lumaRef);
    const ref = frame.subarray(lumaRef, lumaRef * 2);
    const own = halfSse(seg, ref, w, h);
    const shiftBack = this.prevRef ? halfSse(seg, this.prevRef, w, h) : null;
    const shiftAhead = this.prevSeg ? halfSse(this.prevSeg, ref, w, h) : null;
    this.prevSeg = new Uint8Array(seg); // a copy: `frame` is reused for the next one
    this.prevRef = new Uint8Array(ref);

    const hash = createHash('sha256');
    hash.update(seg);
    hash.update(frame.subarray(uStart, uStart + cw * ch));
    hash.update(frame.subarray(vStart, vStart + cw * ch));

    return {
      psnr: psnrOf((lumaSse + chromaSse) / (w * h * 1.5)),
      ssim: windows > 0 ? ssimSum / windows : 1,
      tilePsnr: worstTile,
      shiftBack,
      shiftAhead,
      own,
      hash: hash.digest('hex'),
    };
  }
}

function halfSse(a: Uint8Array, b: Uint8Array, w: number, h: number): number {
  let sse = 0;
  for (let y = 0; y < h; y += 2) {
    const row = y * w;
    for (let x = 0; x < w; x += 2) {
      const d = a[row + x]! - b[row + x]!;
      sse += d * d;
    }
  }
  return sse;
}
