import type { EncodeParams } from '@tabgrid/shared';
import { describe, expect, it } from 'vitest';
import { checkRungs, TranscodeError } from './types.js';

const rung = (over: Partial<EncodeParams> = {}): EncodeParams => ({
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
  ...over,
});
const r720 = rung({ rendition: '720p', width: 1280, height: 720, maxrateKbps: 3000, bufsizeKbps: 6000 });
const r360 = rung({ rendition: '360p', width: 640, height: 360, maxrateKbps: 800, bufsizeKbps: 1600 });

function codeOf(f: () => void): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof TranscodeError ? e.code : 'not a TranscodeError';
  }
  return undefined;
}

describe('checkRungs', () => {
  it('takes renditions of one chunk up to the limit', () => {
    expect(codeOf(() => checkRungs([r720, rung(), r360], 3))).toBeUndefined();
    expect(codeOf(() => checkRungs([rung()], 1))).toBeUndefined();
  });

  it('refuses an empty batch, one over the limit, mixed chunks and a rendition twice', () => {
    expect(codeOf(() => checkRungs([], 3))).toBe('invalid_rungs');
    expect(codeOf(() => checkRungs([r720, rung(), r360], 2))).toBe('invalid_rungs');
    expect(codeOf(() => checkRungs([r720, rung({ frames: 119 })], 3))).toBe('invalid_rungs');
    expect(codeOf(() => checkRungs([r720, rung({ rotation: 90 })], 3))).toBe('invalid_rungs');
    expect(codeOf(() => checkRungs([rung(), rung()], 3))).toBe('invalid_rungs');
  });
});
