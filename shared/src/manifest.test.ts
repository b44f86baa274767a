import { describe, expect, it } from 'vitest';
import { manifestSchema } from './manifest.js';

const chunk = (index: number, frames: number) => ({
  index,
  key: `videos/j/chunks/source/chunk_${index}.mkv`,
  size: 1000,
  frames,
  duration: frames / 30,
});
const manifest = {
  version: 1,
  jobId: 'j',
  container: 'mkv',
  targetChunkSeconds: 4,
  totalFrames: 300,
  chunks: [chunk(0, 120), chunk(1, 120), chunk(2, 60)],
};

describe('manifestSchema', () => {
  it('accepts chunks numbered in order whose frames add up', () => {
    expect(manifestSchema.parse(manifest)).toEqual(manifest);
  });
  it('rejects a frame total that does not add up', () => {
    expect(() => manifestSchema.parse({ ...manifest, totalFrames: 299 })).toThrow(/add up to 300, not totalFrames 299/);
  });
  it('rejects chunks out of order or missing', () => {
    expect(() => manifestSchema.parse({ ...manifest, chunks: [chunk(0, 120), chunk(2, 180)] })).toThrow(/chunk 1 has index 2/);
    expect(() => manifestSchema.parse({ ...manifest, chunks: [], totalFrames: 0 })).toThrow();
  });
});
