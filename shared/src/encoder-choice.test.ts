import { describe, expect, it } from 'vitest';
import { resolveEncoder, webcodecsBitrateKbps, WEBCODECS_BITS_PER_PIXEL } from './encoder-choice.js';
import { encodeParamsSchema } from './protocol.js';

const h264 = { codec: 'h264', pixFmt: 'yuv420p' };

describe('resolveEncoder', () => {
  it('keeps an explicit setting whatever the grid', () => {
    expect(resolveEncoder('x264', { webcodecs: 10, total: 10 }, h264)).toBe('x264');
    expect(resolveEncoder('webcodecs', { webcodecs: 0, total: 3 }, { codec: 'hevc' })).toBe('webcodecs');
  });
  it('auto: WebCodecs when at least half of the connected workers run it and the chunks are 8-bit 4:2:0 H.264', () => {
    expect(resolveEncoder('auto', { webcodecs: 1, total: 2 }, h264)).toBe('webcodecs');
    expect(resolveEncoder('auto', { webcodecs: 1, total: 2 }, { codec: 'h264' })).toBe('webcodecs');
    expect(resolveEncoder('auto', { webcodecs: 1, total: 3 }, h264)).toBe('x264');
    expect(resolveEncoder('auto', { webcodecs: 0, total: 0 }, h264)).toBe('x264');
    expect(resolveEncoder('auto', { webcodecs: 4, total: 4 }, { codec: 'hevc', pixFmt: 'yuv420p' })).toBe('x264');
    expect(resolveEncoder('auto', { webcodecs: 4, total: 4 }, { codec: 'h264', pixFmt: 'yuv420p10le' })).toBe('x264');
    expect(resolveEncoder('auto', { webcodecs: 4, total: 4 }, { codec: 'h264', pixFmt: 'yuv444p' })).toBe('x264');
  });
});

describe('webcodecsBitrateKbps', () => {
  it('is bits per pixel × pixels × frame rate', () => {
    expect(webcodecsBitrateKbps('720p', 1280, 720, 30)).toBe(Math.round((WEBCODECS_BITS_PER_PIXEL['720p'] * 1280 * 720 * 30) / 1000));
    expect(webcodecsBitrateKbps('720p', 1280, 720, 60)).toBeGreaterThan(webcodecsBitrateKbps('720p', 1280, 720, 30));
  });
  it('stays inside what EncodeParams accepts, for absurd or missing rates', () => {
    for (const fps of [0, Number.NaN, -5, 1e9]) {
      const kbps = webcodecsBitrateKbps('240p', 426, 240, fps);
      expect(kbps).toBeGreaterThanOrEqual(50);
      expect(kbps).toBeLessThanOrEqual(200_000);
    }
    expect(webcodecsBitrateKbps('2160p', 7680, 4320, 240)).toBe(200_000);
  });
});

describe('EncodeParams encoder fields', () => {
  const base = {
    rendition: '480p',
    codec: 'h264',
    width: 854,
    height: 480,
    rotation: 0,
    crf: 23,
    maxrateKbps: 1500,
    bufsizeKbps: 3000,
    preset: 'veryfast',
    frames: 120,
  };
  it('accepts params without an encoder (x264, as planned before the setting existed) and WebCodecs ones', () => {
    expect(encodeParamsSchema.safeParse(base).success).toBe(true);
    expect(encodeParamsSchema.safeParse({ ...base, encoder: 'webcodecs', bitrateKbps: 1200 }).success).toBe(true);
  });
  it('refuses an unknown encoder or an absurd bitrate', () => {
    expect(encodeParamsSchema.safeParse({ ...base, encoder: 'openh264' }).success).toBe(false);
    expect(encodeParamsSchema.safeParse({ ...base, encoder: 'webcodecs', bitrateKbps: 10 }).success).toBe(false);
    expect(encodeParamsSchema.safeParse({ ...base, encoder: 'webcodecs', bitrateKbps: 1e9 }).success).toBe(false);
    expect(encodeParamsSchema.safeParse({ ...base, encoder: 'webcodecs', bitrateKbps: 1.5 }).success).toBe(false);
  });
});
