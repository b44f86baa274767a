import { describe, expect, it } from 'vitest';
import { encodeParamsSchema, type EncodeParams } from './protocol.js';
import { videoEncodeFlags, videoFilter, x264ChunkArgs, x264EncoderFlags } from './x264-args.js';

const p480: EncodeParams = encodeParamsSchema.parse({
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
});
const io = { input: 'in.mkv', output: 'out.mp4', threads: 1 };

/** The value following `flag` (first occurrence). */
const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('x264ChunkArgs', () => {
  it('builds the exact argv for a 480p rung (verified with ffprobe: h264 High, 854x480, 120 frames, start 0)', () => {
    expect(x264ChunkArgs(p480, io)).toEqual([
      '-hide_banner',
      '-noautorotate',
      '-threads',
      '1',
      '-i',
      'in.mkv',
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      'scale=854:480,setsar=1,format=yuv420p',
      '-fps_mode',
      'passthrough',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '23',
      '-maxrate',
      '1500k',
      '-bufsize',
      '3000k',
      '-profile:v',
      'high',
      '-threads',
      '1',
      '-f',
      'mp4',
      'out.mp4',
    ]);
  });

  it('disables autorotation as an input option, before -i', () => {
    const args = x264ChunkArgs(p480, io);
    expect(args.indexOf('-noautorotate')).toBeGreaterThanOrEqual(0);
    expect(args.indexOf('-noautorotate')).toBeLessThan(args.indexOf('-i'));
  });

  it('never shifts, resamples or copies timestamps', () => {
    const args = x264ChunkArgs(p480, io);
    for (const banned of ['-output_ts_offset', '-itsoffset', '-copyts', '-r', '-vsync', '-ss', '-t']) {
      expect(args).not.toContain(banned);
    }
    expect(after(args, '-fps_mode')).toBe('passthrough');
  });

  it('drops audio, subtitles and data and maps only the first video stream', () => {
    const args = x264ChunkArgs(p480, io);
    expect(args).toEqual(expect.arrayContaining(['-an', '-sn', '-dn']));
    expect(after(args, '-map')).toBe('0:v:0');
  });

  it('passes the rate control parameters through', () => {
    const args = x264ChunkArgs({ ...p480, crf: 20, maxrateKbps: 6000, bufsizeKbps: 12000, preset: 'medium' }, io);
    expect(after(args, '-crf')).toBe('20');
    expect(after(args, '-maxrate')).toBe('6000k');
    expect(after(args, '-bufsize')).toBe('12000k');
    expect(after(args, '-preset')).toBe('medium');
    expect(after(args, '-profile:v')).toBe('high');
    expect(after(args, '-c:v')).toBe('libx264');
  });

  it('always gives an explicit thread count, for the decoder and the encoder', () => {
    const args = x264ChunkArgs(p480, { ...io, threads: 3 });
    const threads = args.flatMap((a, i) => (a === '-threads' ? [args[i + 1]] : []));
    expect(threads).toEqual(['3', '3']);
    expect(args.indexOf('-threads')).toBeLessThan(args.indexOf('-i'));
    expect(args.lastIndexOf('-threads')).toBeGreaterThan(args.indexOf('-c:v'));
  });

  it.each([0, 5, 1.5, Number.NaN])('rejects threads=%s (x264 default threads crash core-mt; >4 untested)', (threads) => {
    expect(() => x264ChunkArgs(p480, { ...io, threads })).toThrow(RangeError);
  });

  it('writes MP4 to the output path, last', () => {
    const args = x264ChunkArgs(p480, io);
    expect(args.at(-1)).toBe('out.mp4');
    expect(after(args, '-f')).toBe('mp4');
    expect(after(args, '-i')).toBe('in.mkv');
  });
});

describe('videoFilter', () => {
  it.each([
    [0, 'scale=854:480,setsar=1,format=yuv420p'],
    [90, 'transpose=clock,scale=480:854,setsar=1,format=yuv420p'],
    [180, 'hflip,vflip,scale=854:480,setsar=1,format=yuv420p'],
    [270, 'transpose=cclock,scale=480:854,setsar=1,format=yuv420p'],
  ] as const)('rotation %i → %s (rotate before scaling: the size is the displayed one)', (rotation, expected) => {
    const portrait = rotation === 90 || rotation === 270;
    const size = portrait ? { width: 480, height: 854 } : { width: 854, height: 480 };
    expect(videoFilter({ ...size, rotation })).toBe(expected);
  });
});

describe('x264EncoderFlags', () => {
  it('is libx264 High with the rung rate control, in this order', () => {
    expect(x264EncoderFlags(p480)).toEqual([
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '23',
      '-maxrate',
      '1500k',
      '-bufsize',
      '3000k',
      '-profile:v',
      'high',
    ]);
  });
});

describe('videoEncodeFlags', () => {
  it('is the chunk argv between the input and the encoder threads, so another caller encodes exactly as the tab', () => {
    const args = x264ChunkArgs(p480, io);
    const flags = videoEncodeFlags(p480);
    const start = args.indexOf('in.mkv') + 1;
    expect(args.slice(start, start + flags.length)).toEqual(flags);
    expect(flags.slice(-x264EncoderFlags(p480).length)).toEqual(x264EncoderFlags(p480));
    expect(flags[flags.indexOf('-vf') + 1]).toBe(videoFilter(p480));
  });
});

describe('x264ChunkArgs, rotated, multi-thread', () => {
  it('builds the exact argv for a rotated rung on the multi-thread core', () => {
    const portrait = { ...p480, width: 480, height: 854, rotation: 90 as const };
    expect(x264ChunkArgs(portrait, { input: 'in.mkv', output: 'out.mp4', threads: 2 })).toEqual([
      '-hide_banner',
      '-noautorotate',
      '-threads',
      '2',
      '-i',
      'in.mkv',
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      'transpose=clock,scale=480:854,setsar=1,format=yuv420p',
      '-fps_mode',
      'passthrough',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '23',
      '-maxrate',
      '1500k',
      '-bufsize',
      '3000k',
      '-profile:v',
      'high',
      '-threads',
      '2',
      '-f',
      'mp4',
      'out.mp4',
    ]);
  });
});
