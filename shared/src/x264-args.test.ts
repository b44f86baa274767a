import { describe, expect, it } from 'vitest';
import { encodeParamsSchema, type EncodeParams } from './protocol.js';
import { NATIVE_X264_MAX_THREADS, videoEncodeFlags, videoFilter, x264ChunkArgs, x264EncoderFlags, x264LadderArgs } from './x264-args.js';

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

  it('lets native ffmpeg use up to NATIVE_X264_MAX_THREADS threads, and no more', () => {
    const args = x264ChunkArgs(p480, { ...io, threads: 16, maxThreads: NATIVE_X264_MAX_THREADS });
    expect(args.flatMap((a, i) => (a === '-threads' ? [args[i + 1]] : []))).toEqual(['16', '16']);
    expect(() => x264ChunkArgs(p480, { ...io, threads: 65, maxThreads: NATIVE_X264_MAX_THREADS })).toThrow(RangeError);
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

describe('x264LadderArgs', () => {
  const p360: EncodeParams = { ...p480, rendition: '360p', width: 640, height: 360, maxrateKbps: 800, bufsizeKbps: 1600 };

  it('decodes once and gives every rung its own chain, exactly the single-rung filter and encoder flags, into its own file', () => {
    const args = x264LadderArgs([p480, p360], { input: 'in.mkv', outputs: ['a.mp4', 'b.mp4'], threads: 1 });
    expect(args.slice(0, 6)).toEqual(['-hide_banner', '-noautorotate', '-threads', '1', '-i', 'in.mkv']);
    expect(args.filter((a) => a === '-i')).toHaveLength(1);
    expect(after(args, '-filter_complex')).toBe(`[0:v:0]split=2[s0][s1];[s0]${videoFilter(p480)}[v0];[s1]${videoFilter(p360)}[v1]`);
    // Each output: the single-rung argv from -fps_mode on (encoder flags, threads, file), after its own map.
    const tailOf = (p: EncodeParams, output: string) => {
      const single = x264ChunkArgs(p, { input: 'in.mkv', output, threads: 1 });
      return ['-an', '-sn', '-dn', ...single.slice(single.indexOf('-fps_mode'))];
    };
    expect(args.slice(args.indexOf('[v0]') + 1, args.indexOf('a.mp4') + 1)).toEqual(tailOf(p480, 'a.mp4'));
    expect(args.slice(args.indexOf('[v1]') + 1)).toEqual(tailOf(p360, 'b.mp4'));
  });

  it('refuses no rungs, mismatched outputs and bad thread counts', () => {
    expect(() => x264LadderArgs([], { input: 'i', outputs: [], threads: 1 })).toThrow(RangeError);
    expect(() => x264LadderArgs([p480, p360], { input: 'i', outputs: ['a'], threads: 1 })).toThrow(RangeError);
    expect(() => x264LadderArgs([p480], { input: 'i', outputs: ['a'], threads: 0 })).toThrow(RangeError);
  });
});
