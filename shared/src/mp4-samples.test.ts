import { describe, expect, it } from 'vitest';
import { mp4SampleCount } from './mp4-samples.js';

/** A box: 32-bit size, type, payload. */
function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  const size = 8 + payload.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, size);
  out.set(new TextEncoder().encode(type), 4);
  let at = 8;
  for (const p of payload) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
const u32s = (...xs: number[]) => {
  const out = new Uint8Array(4 * xs.length);
  for (const [i, x] of xs.entries()) new DataView(out.buffer).setUint32(4 * i, x);
  return out;
};
const stsz = (count: number) => box('stsz', u32s(0, 0, count));
const mp4 = (count: number) =>
  new Uint8Array([
    ...box('ftyp', u32s(0x69736f6d, 0x200)),
    ...box('mdat', new Uint8Array(100)),
    ...box(
      'moov',
      box('mvhd', u32s(0, 0, 0)),
      box('trak', box('tkhd'), box('mdia', box('mdhd'), box('minf', box('stbl', box('stsd'), stsz(count))))),
    ),
  ]);

describe('mp4SampleCount', () => {
  it('reads the first track’s sample count wherever moov sits', () => {
    expect(mp4SampleCount(mp4(120))).toBe(120);
    const at = 7;
    const shifted = new Uint8Array(at + mp4(61).byteLength);
    shifted.set(mp4(61), at);
    expect(mp4SampleCount(shifted.subarray(at))).toBe(61);
  });

  it('gives null, never throws, on files without the box or with lying sizes', () => {
    expect(mp4SampleCount(new Uint8Array(0))).toBeNull();
    expect(mp4SampleCount(box('ftyp', u32s(1)))).toBeNull();
    const broken = mp4(5);
    new DataView(broken.buffer).setUint32(0, 0xffffff00); // ftyp claims more than the file
    expect(mp4SampleCount(broken)).toBeNull();
    const truncated = mp4(5).subarray(0, mp4(5).byteLength - 6);
    expect(mp4SampleCount(truncated)).toBeNull();
    const shortStsz = box('moov', box('trak', box('mdia', box('minf', box('stbl', box('stsz', u32s(0)))))));
    expect(mp4SampleCount(shortStsz)).toBeNull();
  });
});
