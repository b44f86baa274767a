/**
 * rotateI420(planes, width, height, degrees) → the picture turned clockwise
 * by `degrees`, as tightly packed I420 (Y, then U, then V) with its new
 * width and height. Pure: the WebCodecs pipeline rotates decoded frames
 * with it (a canvas would re-encode them as full-range RGB), Vitest runs it
 * in Node. Chroma planes are ceil(width / 2) × ceil(height / 2).
 */
export interface I420Planes {
  readonly data: Uint8Array;
  /** Offset and bytes per row of the Y, U and V planes in `data`. */
  readonly layout: readonly { readonly offset: number; readonly stride: number }[];
}

export function rotateI420(
  src: I420Planes,
  width: number,
  height: number,
  degrees: 90 | 180 | 270,
): { data: Uint8Array; width: number; height: number } {
  const turned = degrees !== 180;
  const outW = turned ? height : width;
  const outH = turned ? width : height;
  const sizes = [
    [width, height],
    [Math.ceil(width / 2), Math.ceil(height / 2)],
    [Math.ceil(width / 2), Math.ceil(height / 2)],
  ] as const;
  const total = sizes.reduce((n, [w, h]) => n + w * h, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const [p, [w, h]] of sizes.entries()) {
    const { offset, stride } = src.layout[p]!;
    const ow = turned ? h : w;
    // Destination (x', y') of source (x, y): 90° → (h-1-y, x); 180° → (w-1-x, h-1-y); 270° → (y, w-1-x).
    for (let y = 0; y < h; y++) {
      const row = offset + y * stride;
      for (let x = 0; x < w; x++) {
        const v = src.data[row + x]!;
        let dx: number;
        let dy: number;
        if (degrees === 90) {
          dx = h - 1 - y;
          dy = x;
        } else if (degrees === 180) {
          dx = w - 1 - x;
          dy = h - 1 - y;
        } else {
          dx = y;
          dy = w - 1 - x;
        }
        out[at + dy * ow + dx] = v;
      }
    }
    at += w * h;
  }
  return { data: out, width: outW, height: outH };
}
