/**
 * Test-only: hostile sources, generated with native ffmpeg at test time (a
 * few seconds each, small files), each over one of the source limits
 * (source-limits.ts) while still being a valid video file:
 *
 * - many packets: tiny 16×16 frames at 240 fps, 2,000,000 packets in ~30 MB
 *   (2.3 h: under the duration and frame-rate limits, over MAX_SOURCE_FRAMES).
 *   ffprobe printed 248 MB of per-packet JSON for such a file.
 * - huge picture: one 8192×8192 frame (an 8192×8192 source made a 7 GB
 *   server-side ffmpeg).
 * - absurd frame rate: 200 frames at 10,000 fps.
 * - huge duration: 5 frames 50,000 s apart (the container says 200,001 s; a
 *   constant-rate mezzanine would fill the gaps with 6 million frames).
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function ffmpeg(args: string[]): Promise<void> {
  await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args], { timeout: 120_000 });
}

export interface PathologicalFiles {
  readonly manyPackets: string;
  readonly hugePicture: string;
  readonly absurdFrameRate: string;
  readonly hugeDuration: string;
}

/**
 * `packets` video packets of a 16×16 picture at `fps`, by looping a
 * one-second clip with stream copy (~4 s per million). At 1000 fps Matroska
 * (1 ms time base) gives no average rate (0/0) and an r_frame_rate of 1000/1.
 */
export async function makeManyPackets(file: string, packets = 2_000_000, fps = 240): Promise<void> {
  const seed = `${file}.seed.mkv`;
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `color=c=gray:size=16x16:rate=${fps}`,
    '-frames:v',
    String(fps),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-bf',
    '0',
    seed,
  ]);
  try {
    await ffmpeg(['-stream_loop', String(Math.ceil(packets / fps) - 1), '-i', seed, '-c', 'copy', file]);
  } finally {
    await rm(seed, { force: true });
  }
}

export async function makeHugePicture(file: string, size = 8192): Promise<void> {
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `color=c=blue:size=${size}x${size}:rate=1`,
    '-frames:v',
    '1',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    file,
  ]);
}

export async function makeAbsurdFrameRate(file: string, fps = 10_000): Promise<void> {
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=64x64:rate=${fps}`,
    '-frames:v',
    '200',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    file,
  ]);
}

export async function makeHugeDuration(file: string, gapSeconds = 50_000): Promise<void> {
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'color=size=64x64:rate=1',
    '-frames:v',
    '5',
    '-vf',
    `setpts=N*${gapSeconds}/TB`,
    '-fps_mode',
    'passthrough',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    file,
  ]);
}

export async function makePathologicalFiles(dir: string): Promise<PathologicalFiles> {
  const files: PathologicalFiles = {
    manyPackets: path.join(dir, 'many-packets.mkv'),
    hugePicture: path.join(dir, 'huge-picture.mp4'),
    absurdFrameRate: path.join(dir, 'absurd-frame-rate.mp4'),
    hugeDuration: path.join(dir, 'huge-duration.mkv'),
  };
  await makeManyPackets(files.manyPackets);
  await makeHugePicture(files.hugePicture);
  await makeAbsurdFrameRate(files.absurdFrameRate);
  await makeHugeDuration(files.hugeDuration);
  return files;
}
