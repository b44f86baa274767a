import type { EncodeParams } from '@tabgrid/shared';
import { describe, expect, it } from 'vitest';
import { avcCodecString, encoderConfig, h264Level, nominalFrameRate, parameterSetsOf } from './webcodecs-config.js';

const rung: EncodeParams = {
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
  encoder: 'webcodecs',
  bitrateKbps: 1200,
};

describe('h264Level', () => {
  it('picks the lowest level that holds the frame size and macroblock rate', () => {
    expect(h264Level(640, 360, 30)).toBe(30);
    expect(h264Level(854, 480, 30)).toBe(31); // 1,620 macroblocks × 30 fps is over level 3.0's 40,500 per second
    expect(h264Level(854, 480, 25)).toBe(30);
    expect(h264Level(1280, 720, 30)).toBe(31);
    expect(h264Level(1280, 720, 60)).toBe(32);
    expect(h264Level(1920, 1080, 30)).toBe(40);
    expect(h264Level(1920, 1080, 60)).toBe(42);
    expect(h264Level(3840, 2160, 30)).toBe(51);
  });
  it('codec strings are Constrained Baseline with the level in hex', () => {
    expect(avcCodecString(1280, 720, 30)).toBe('avc1.42E01F');
    expect(avcCodecString(1920, 1080, 30)).toBe('avc1.42E028');
  });
});

describe('nominalFrameRate', () => {
  const ms = (fps: number, n: number) => Array.from({ length: n }, (_, i) => Math.round((i * 1000) / fps) / 1000);
  it('reads millisecond timestamps as the nominal rate', () => {
    expect(nominalFrameRate(ms(30, 120))).toBe(30);
    expect(nominalFrameRate(ms(25, 100))).toBe(25);
    expect(nominalFrameRate(ms(30000 / 1001, 120))).toBeCloseTo(29.97, 2);
    expect(nominalFrameRate(ms(60, 240).map((t) => t + 0.066))).toBe(60);
  });
  it('gives null for too few frames or an irregular rate', () => {
    expect(nominalFrameRate([0])).toBeNull();
    expect(nominalFrameRate([0, 0])).toBeNull();
    expect(nominalFrameRate([0, 0.1, 0.13, 0.5, 0.52])).toBeNull();
  });
});

describe('encoderConfig', () => {
  it('asks for the rung size, its bitrate and the chunk rate', () => {
    expect(encoderConfig(rung, 30)).toMatchObject({
      codec: 'avc1.42E01F',
      width: 854,
      height: 480,
      bitrate: 1_200_000,
      framerate: 30,
      avc: { format: 'avc' },
    });
  });
  it('refuses an x264 rung', () => {
    expect(() => encoderConfig({ ...rung, encoder: 'x264' }, 30)).toThrow(/not a WebCodecs task/);
    expect(() => encoderConfig({ ...rung, bitrateKbps: undefined }, 30)).toThrow(/not a WebCodecs task/);
  });
});

describe('parameterSetsOf', () => {
  // Chromium's OpenH264 avcC for 1280x720 (captured from a segment): one SPS, one PPS, 4-byte lengths.
  const avcC = Uint8Array.from(Buffer.from('0142c01fffe1000f6742c01f8c8d402802dd00f08846a001000468ce3c80', 'hex'));
  it('gives the SPS and PPS, each behind a 4-byte length', () => {
    const sets = parameterSetsOf(avcC);
    expect(Buffer.from(sets).toString('hex')).toBe(`0000000f${'6742c01f8c8d402802dd00f08846a0'}00000004${'68ce3c80'}`);
  });
  it('refuses a record that is not avcC or is cut short', () => {
    expect(() => parameterSetsOf(Uint8Array.of(0, 1, 2, 3, 4, 5, 6))).toThrow(/version/);
    expect(() => parameterSetsOf(avcC.subarray(0, 12))).toThrow(/cut short/);
    expect(() => parameterSetsOf(avcC.subarray(0, 22))).toThrow(/PPS count|cut short/);
  });
});
