import { describe, expect, it } from 'vitest';
import { rotateI420 } from './rotate-i420.js';

/** A 4×2 I420 picture: Y 0..7 row by row, U 100, 101, V 200, 201 (chroma 2×1), with padded rows. */
function picture() {
  const stride = 6;
  const data = new Uint8Array(stride * 2 + 3 * 1 + 3 * 1);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) data[y * stride + x] = y * 4 + x;
  const u = stride * 2;
  const v = u + 3;
  data.set([100, 101], u);
  data.set([200, 201], v);
  return {
    data,
    layout: [
      { offset: 0, stride },
      { offset: u, stride: 3 },
      { offset: v, stride: 3 },
    ],
  };
}

const planes = (r: { data: Uint8Array; width: number; height: number }) => {
  const y = r.width * r.height;
  const c = Math.ceil(r.width / 2) * Math.ceil(r.height / 2);
  return [[...r.data.subarray(0, y)], [...r.data.subarray(y, y + c)], [...r.data.subarray(y + c)]];
};

describe('rotateI420', () => {
  it('turns 90° clockwise: the left column becomes the top row, read bottom up', () => {
    const r = rotateI420(picture(), 4, 2, 90);
    expect([r.width, r.height]).toEqual([2, 4]);
    // Source rows 0 1 2 3 / 4 5 6 7 → rows (4 0) (5 1) (6 2) (7 3).
    expect(planes(r)).toEqual([
      [4, 0, 5, 1, 6, 2, 7, 3],
      [100, 101],
      [200, 201],
    ]);
  });
  it('turns 180° and 270°', () => {
    expect(planes(rotateI420(picture(), 4, 2, 180))).toEqual([
      [7, 6, 5, 4, 3, 2, 1, 0],
      [101, 100],
      [201, 200],
    ]);
    const r = rotateI420(picture(), 4, 2, 270);
    expect([r.width, r.height]).toEqual([2, 4]);
    expect(planes(r)).toEqual([
      [3, 7, 2, 6, 1, 5, 0, 4],
      [101, 100],
      [201, 200],
    ]);
  });
  it('four quarter turns give the picture back', () => {
    let p: { data: Uint8Array; width: number; height: number; layout: { offset: number; stride: number }[] } = {
      data: picture().data,
      width: 4,
      height: 2,
      layout: picture().layout,
    };
    for (let i = 0; i < 4; i++) {
      const r = rotateI420(p, p.width, p.height, 90);
      const y = r.width * r.height;
      const c = Math.ceil(r.width / 2) * Math.ceil(r.height / 2);
      p = {
        ...r,
        layout: [
          { offset: 0, stride: r.width },
          { offset: y, stride: Math.ceil(r.width / 2) },
          { offset: y + c, stride: Math.ceil(r.width / 2) },
        ],
      };
    }
    expect(planes(p)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [100, 101],
      [200, 201],
    ]);
  });
});
