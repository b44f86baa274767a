/**
 * Source limits against hostile files generated at test time: the probe
 * (what intake and the probe step run) and the packet scan refuse each one
 * in words, naming the limit and its variable; the scan stops at the packet
 * limit without collecting the rest; the defaults accept the test corpus
 * (normalize.test.ts probes every corpus file with them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from '../errors.js';
import { analyzeSource } from './normalize.js';
import { makeAbsurdFrameRate, makeHugeDuration, makeHugePicture, makeManyPackets } from './pathological-corpus.js';
import { probeSource } from './probe.js';
import {
  checkDuration,
  checkFrameCount,
  checkFrameRate,
  checkPacketRate,
  checkPictureSize,
  DEFAULT_SOURCE_LIMITS,
  SourceLimitError,
} from './source-limits.js';
import type { MediaTools } from './tools.js';

const tools: MediaTools = { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };
let dir: string;
const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tabgrid-limits-'));
  await Promise.all([
    makeManyPackets(file('many.mkv'), 5000),
    makeManyPackets(file('ms.mkv'), 2000, 1000),
    makeHugePicture(file('huge.mp4')),
    makeAbsurdFrameRate(file('rate.mp4')),
    makeHugeDuration(file('long.mkv')),
  ]);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<SourceLimitError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SourceLimitError);
  // Permanent: intake turns it into 422, the probe step into a failed job with this message.
  expect(err).toBeInstanceOf(PermanentError);
  return err as SourceLimitError;
}

describe('the limit checks', () => {
  it('accept what real cameras, phones and editors make up to 4K', () => {
    const L = DEFAULT_SOURCE_LIMITS;
    for (const [w, h] of [
      [3840, 2160],
      [2160, 3840],
      [4096, 2160],
      [4096, 3072],
      [1920, 1080],
    ] as const) {
      expect(() => checkPictureSize(w, h, L)).not.toThrow();
    }
    for (const fps of [23.976, 25, 29.97, 50, 59.94, 120, 240]) expect(() => checkFrameRate(fps, L)).not.toThrow();
    expect(() => checkDuration(4 * 3600, L)).not.toThrow();
    // 4 h at 59.94 fps.
    expect(() => checkFrameCount(Math.ceil(4 * 3600 * 59.94), L)).not.toThrow();
    // Interlaced 120i stored as fields: two packets per frame.
    expect(() => checkPacketRate(240 * 60, 60, L)).not.toThrow();
  });

  it('refuse each limit in words, naming its variable', () => {
    const L = DEFAULT_SOURCE_LIMITS;
    expect(() => checkPictureSize(8192, 8192, L)).toThrow(/8192×8192, over the limit of 4096×4096 \(MAX_SOURCE_WIDTH, MAX_SOURCE_HEIGHT\)/);
    expect(() => checkPictureSize(4096, 4096, L)).toThrow(/over the limit of 12,582,912 pixels \(MAX_SOURCE_PIXELS\)/);
    expect(() => checkFrameRate(1000, L)).toThrow(/1,000 fps, over the limit of 240 fps \(MAX_SOURCE_FPS\)/);
    expect(() => checkDuration(200_001, L)).toThrow(/200001 s long, over the limit of 14400 s \(MAX_DURATION_SECONDS\)/);
    expect(() => checkFrameCount(2_000_000, L)).toThrow(/has 2,000,000 frames, over the limit of 1,000,000 \(MAX_SOURCE_FRAMES\)/);
    expect(() => checkPacketRate(100_000, 100, L)).toThrow(
      /1,000 per second\), over the limit of 480 per second \(MAX_SOURCE_PACKET_RATE\)/,
    );
  });
});

describe('probeSource with limits (intake and the probe step)', () => {
  it('refuses an 8192×8192 picture', async () => {
    expect((await refusal(probeSource(tools, file('huge.mp4')))).message).toMatch(/8192×8192.*MAX_SOURCE_WIDTH/);
  });

  it('refuses an absurd frame rate', async () => {
    expect((await refusal(probeSource(tools, file('rate.mp4')))).message).toMatch(/10,000 fps.*MAX_SOURCE_FPS/);
  });

  it('refuses a file that claims a huge duration', async () => {
    expect((await refusal(probeSource(tools, file('long.mkv')))).message).toMatch(/200001 s long.*MAX_DURATION_SECONDS/);
  });

  it('counts packets and refuses too many, and too many per second', async () => {
    const few = { ...DEFAULT_SOURCE_LIMITS, maxFrames: 4000 };
    expect((await refusal(probeSource(tools, file('many.mkv'), few))).message).toMatch(/has 5,040 frames, over the limit of 4,000/);
    const slow = { ...DEFAULT_SOURCE_LIMITS, maxPacketRate: 100 };
    expect((await refusal(probeSource(tools, file('many.mkv'), slow))).message).toMatch(/MAX_SOURCE_PACKET_RATE/);
    // A container with no average rate (0/0, r_frame_rate 1000/1): the counted rate is judged.
    expect((await refusal(probeSource(tools, file('ms.mkv')))).message).toMatch(
      /frame rate is 1,000(\.\d+)? fps, over the limit of 240 fps \(MAX_SOURCE_FPS\)/,
    );
    const slowFps = { ...DEFAULT_SOURCE_LIMITS, maxFps: 2000 };
    expect((await refusal(probeSource(tools, file('ms.mkv'), slowFps))).message).toMatch(
      /\(1,000(\.\d+)? per second\), over the limit of 480 per second/,
    );
    // Under the defaults the same file is a video.
    expect((await probeSource(tools, file('many.mkv'))).width).toBe(16);
  });
});

describe('analyzeSource with limits (the probe step)', () => {
  it('stops the packet scan as soon as the file is over the packet limit', async () => {
    const few = { ...DEFAULT_SOURCE_LIMITS, maxFrames: 1000 };
    expect((await refusal(analyzeSource(tools, file('many.mkv'), 4, few))).message).toMatch(/has 1,001 frames, over the limit of 1,000/);
  });

  it('refuses timestamps spanning more than the duration limit, and too many packets per second', async () => {
    expect((await refusal(analyzeSource(tools, file('long.mkv'), 4))).message).toMatch(/200000 s long.*MAX_DURATION_SECONDS/);
    const slow = { ...DEFAULT_SOURCE_LIMITS, maxPacketRate: 100 };
    expect((await refusal(analyzeSource(tools, file('many.mkv'), 4, slow))).message).toMatch(/per second\), over the limit of 100/);
  });

  it('reads the packets line by line: the defaults accept a clean file and find its keyframes', async () => {
    const analysis = await analyzeSource(tools, file('many.mkv'), 4);
    expect(analysis.damaged).toBeNull();
    expect(analysis.frameRate).toBe('240/1');
    // One keyframe per looped second: no gap over 1 s.
    expect(analysis.maxKeyframeGap).toBeLessThanOrEqual(1.01);
  });
});
