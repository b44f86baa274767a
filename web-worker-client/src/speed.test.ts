import { describe, expect, it } from 'vitest';
import { formatDuration, formatSpeed, speedOf } from './speed.js';

describe('speedOf', () => {
  it('is frames and media seconds over transcode time, across the recent tasks', () => {
    // Two 4 s 30 fps chunks in 2.5 s and 3.5 s: 240 frames in 6 s = 40 fps, 8 s of video in 6 s = 1.33× realtime.
    const s = speedOf([
      { frames: 120, encodeMs: 2500, mediaSeconds: 4 },
      { frames: 120, encodeMs: 3500, mediaSeconds: 4 },
    ]);
    expect(s?.fps).toBeCloseTo(40);
    expect(s?.realtime).toBeCloseTo(8 / 6);
    expect(formatSpeed(s)).toEqual({ value: '40 fps', sub: '1.3× realtime' });
  });

  it('has no realtime factor without frame rates, and nothing before the first task', () => {
    expect(speedOf([{ frames: 30, encodeMs: 4000 }])).toEqual({ fps: 7.5, realtime: null });
    expect(formatSpeed({ fps: 7.5, realtime: null })).toEqual({ value: '7.5 fps', sub: '' });
    expect(speedOf([])).toBeNull();
    expect(formatSpeed(null)).toEqual({ value: '–', sub: 'measured after the first task' });
  });
});

describe('formatDuration', () => {
  it('reads like a person would say it', () => {
    expect([0, 42_400, 185_000, 3_720_000].map(formatDuration)).toEqual(['0 s', '42 s', '3 min 05 s', '1 h 02 min']);
  });
});
