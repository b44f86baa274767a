import { describe, expect, it } from 'vitest';
import { maxSegmentBytes } from './segment-bounds.js';

describe('maxSegmentBytes', () => {
  it('bounds a segment by the rung’s VBV: bufsize + maxrate × frames at 1 fps, or bufsize per frame', () => {
    // 720p: maxrate 3000 kbit/s, bufsize 6000 kbit; 120 frames (4 s at 30 fps).
    expect(maxSegmentBytes({ frames: 120, maxrateKbps: 3000, bufsizeKbps: 6000 })).toBe(((6000 + 3000 * 120) * 1000) / 8 + 1024 * 1024);
    // Two frames: each at most a full buffer.
    expect(maxSegmentBytes({ frames: 2, maxrateKbps: 3000, bufsizeKbps: 6000 })).toBe((2 * 6000 * 1000) / 8 + 1024 * 1024);
  });

  it('is far below the 1 GiB a URL took before, and grows with the rung', () => {
    const r240 = maxSegmentBytes({ frames: 120, maxrateKbps: 400, bufsizeKbps: 800 });
    const r2160 = maxSegmentBytes({ frames: 120, maxrateKbps: 16000, bufsizeKbps: 32000 });
    expect(r240).toBeLessThan(r2160);
    expect(r2160).toBeLessThan(1024 ** 3 / 4);
  });
});
