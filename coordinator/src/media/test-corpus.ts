/**
 * Test-only: a corpus of what phones and cameras make, generated with native
 * ffmpeg at test time (nothing binary is committed). Each clip is small and
 * 2–20 s so the whole set is made in well under a minute on 2 cores.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NormalizeReason } from './normalize.js';

const run = promisify(execFile);

export interface CorpusCase {
  readonly name: string;
  readonly file: string;
  /** What analyzeSource must decide. */
  readonly reasons: NormalizeReason[];
  /** Displayed portrait from a landscape coded picture (rotation 90 or 270). */
  readonly portrait: boolean;
  readonly hasAudio: boolean;
  /** Coded size. */
  readonly width: number;
  readonly height: number;
  readonly sar?: [number, number];
  readonly ffmpegArgs: string[];
  readonly thenCopyWith?: string[];
  /** Delay the video by this many seconds in the stream-copy step. */
  readonly videoOffset?: number;
}

const SINE = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast'];

function src(size: string, rate: string, seconds: number): string[] {
  return ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}`, '-t', String(seconds)];
}

export function corpusCases(dir: string): CorpusCase[] {
  const f = (n: string) => path.join(dir, n);
  return [
    {
      name: 'portrait phone (coded landscape, rotate 90)',
      file: f('portrait.mp4'),
      reasons: [],
      portrait: true,
      hasAudio: true,
      width: 640,
      height: 360,
      ffmpegArgs: [...src('640x360', '30', 4), ...SINE, '-t', '4', ...X264, '-g', '60', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
      // The rotate tag is only written as a display matrix on a stream copy (ffmpeg 5.1).
      thenCopyWith: ['-metadata:s:v:0', 'rotate=90'],
    },
    {
      // Phones record VFR: the mezzanine path must keep the coded picture and the rotation too.
      name: 'portrait phone with variable frame rate',
      file: f('portrait-vfr.mp4'),
      reasons: ['vfr'],
      portrait: true,
      hasAudio: true,
      width: 640,
      height: 360,
      ffmpegArgs: [
        ...src('640x360', '30', 5),
        ...SINE,
        '-t',
        '5',
        '-vf',
        "select='lt(t\\,2)+not(mod(n\\,3))'",
        '-fps_mode',
        'vfr',
        ...X264,
        '-g',
        '60',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
      ],
      thenCopyWith: ['-metadata:s:v:0', 'rotate=90'],
    },
    {
      name: '29.97 fps with B-frames',
      file: f('ntsc-bframes.mp4'),
      reasons: [],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 240,
      ffmpegArgs: [
        ...src('320x240', '30000/1001', 6),
        ...SINE,
        '-t',
        '6',
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-bf',
        '3',
        '-g',
        '60',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
      ],
    },
    {
      name: 'VP9 WebM with Opus',
      file: f('vp9.webm'),
      reasons: [],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 180,
      ffmpegArgs: [
        ...src('320x180', '30', 5),
        ...SINE,
        '-t',
        '5',
        '-c:v',
        'libvpx-vp9',
        '-deadline',
        'realtime',
        '-cpu-used',
        '8',
        '-b:v',
        '300k',
        '-g',
        '60',
        '-c:a',
        'libopus',
      ],
    },
    {
      name: 'no audio',
      file: f('silent.mp4'),
      reasons: [],
      portrait: false,
      hasAudio: false,
      width: 320,
      height: 180,
      ffmpegArgs: [...src('320x180', '30', 4), ...X264, '-g', '60', '-pix_fmt', 'yuv420p'],
    },
    {
      name: 'one keyframe in 20 s',
      file: f('sparse-keyframes.mp4'),
      reasons: ['sparse_keyframes'],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 180,
      ffmpegArgs: [
        ...src('320x180', '30', 20),
        ...SINE,
        '-t',
        '20',
        ...X264,
        '-g',
        '9999',
        '-sc_threshold',
        '0',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
      ],
    },
    {
      // 3 s at 30 fps then 3 s at 15 fps, timestamps kept as they are.
      name: 'variable frame rate (screen recording)',
      file: f('vfr.mkv'),
      reasons: ['vfr'],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 180,
      ffmpegArgs: [
        ...src('320x180', '30', 6),
        ...SINE,
        '-t',
        '6',
        '-vf',
        "select='lt(t\\,3)+not(mod(n\\,2))'",
        '-fps_mode',
        'vfr',
        ...X264,
        '-g',
        '60',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
      ],
    },
    {
      name: 'HEVC 10-bit',
      file: f('hevc-10bit.mp4'),
      reasons: [],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 180,
      ffmpegArgs: [
        ...src('320x180', '30', 4),
        ...SINE,
        '-t',
        '4',
        '-c:v',
        'libx265',
        '-preset',
        'ultrafast',
        '-x265-params',
        'keyint=60:min-keyint=60:log-level=error',
        '-pix_fmt',
        'yuv420p10le',
        '-tag:v',
        'hvc1',
        '-c:a',
        'aac',
      ],
    },
    {
      name: 'H.264 4:2:2',
      file: f('h264-422.mp4'),
      reasons: [],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 180,
      ffmpegArgs: [...src('320x180', '30', 4), ...SINE, '-t', '4', ...X264, '-g', '60', '-pix_fmt', 'yuv422p', '-c:a', 'aac'],
    },
    {
      // 50 progressive frames/s woven into 25 interlaced frames/s, top field first.
      name: 'interlaced 25i',
      file: f('interlaced.mp4'),
      reasons: ['interlaced'],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 240,
      ffmpegArgs: [
        ...src('320x240', '50', 4),
        ...SINE,
        '-t',
        '4',
        '-vf',
        'tinterlace=interleave_top,fieldorder=tff',
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-flags',
        '+ildct+ilme',
        '-x264opts',
        'tff=1',
        '-g',
        '50',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
      ],
    },
    {
      // x264 cannot make 4:2:0 at odd sizes; 4:4:4 can. Sparse keyframes so the odd-size mezzanine is exercised too.
      name: 'odd dimensions 641x359, sparse keyframes',
      file: f('odd.mp4'),
      reasons: ['sparse_keyframes'],
      portrait: false,
      hasAudio: true,
      width: 641,
      height: 359,
      // lavfi sources round their size to even; scale does not.
      ffmpegArgs: [
        ...src('640x360', '30', 8),
        ...SINE,
        '-t',
        '8',
        '-vf',
        'scale=641:359',
        ...X264,
        '-g',
        '9999',
        '-pix_fmt',
        'yuv444p',
        '-c:a',
        'aac',
      ],
    },
    {
      name: 'non-square pixels (SAR 64:45)',
      file: f('anamorphic.mp4'),
      reasons: [],
      portrait: false,
      hasAudio: true,
      width: 360,
      height: 288,
      sar: [64, 45],
      ffmpegArgs: [
        ...src('360x288', '25', 4),
        ...SINE,
        '-t',
        '4',
        '-vf',
        'setsar=64/45',
        ...X264,
        '-g',
        '50',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
      ],
    },
    {
      name: '5.1 audio',
      file: f('surround.mp4'),
      reasons: [],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 180,
      ffmpegArgs: [
        ...src('320x180', '30', 4),
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000',
        '-t',
        '4',
        ...X264,
        '-g',
        '60',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
        '-ac',
        '6',
        '-channel_layout',
        '5.1',
      ],
    },
    {
      // A recording whose picture starts 0.5 s after its sound.
      name: 'video starts 0.5 s after audio',
      file: f('late-video.mkv'),
      reasons: ['start_offset'],
      portrait: false,
      hasAudio: true,
      width: 320,
      height: 180,
      ffmpegArgs: [...src('320x180', '30', 4), ...SINE, '-t', '4', ...X264, '-g', '60', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
      thenCopyWith: ['-output_ts_offset', '0'],
      videoOffset: 0.5,
    },
    {
      name: 'AV1 (no decoder in the wasm core)',
      file: f('av1.mkv'),
      reasons: ['codec'],
      portrait: false,
      hasAudio: false,
      width: 320,
      height: 180,
      ffmpegArgs: [...src('320x180', '30', 3), '-c:v', 'libsvtav1', '-preset', '12', '-g', '60', '-pix_fmt', 'yuv420p'],
    },
  ];
}

export async function makeCorpusFile(c: CorpusCase): Promise<void> {
  if (!c.thenCopyWith) {
    await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...c.ffmpegArgs, c.file]);
    return;
  }
  const first = `${c.file}.first${path.extname(c.file)}`;
  await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...c.ffmpegArgs, first]);
  const inputs = c.videoOffset
    ? ['-itsoffset', String(c.videoOffset), '-i', first, '-i', first, '-map', '0:v', '-map', '1:a']
    : ['-i', first, '-map', '0'];
  await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...inputs, '-c', 'copy', ...c.thenCopyWith, c.file]);
  await rm(first, { force: true });
}

/** Makes every clip, two at a time. */
export async function makeCorpus(cases: readonly CorpusCase[]): Promise<void> {
  const queue = [...cases];
  await Promise.all(
    [0, 1].map(async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await makeCorpusFile(c);
    }),
  );
}
