/**
 * Test media made with native ffmpeg at test time (nothing binary is
 * committed), and the checks every finished output must pass.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClipSpec {
  seconds: number;
  width: number;
  height: number;
  fps: number;
  audio: boolean;
  /** Keyframe interval in frames. */
  gop: number;
}

export const STANDARD_CLIP: ClipSpec = { seconds: 10, width: 1280, height: 720, fps: 30, audio: true, gop: 60 };

export async function makeClip(file: string, spec: ClipSpec = STANDARD_CLIP): Promise<void> {
  const args = ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}`];
  if (spec.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-t', String(spec.seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-g', String(spec.gop), '-pix_fmt', 'yuv420p');
  if (spec.audio) args.push('-c:a', 'aac', '-b:a', '96k');
  args.push(file);
  await run('ffmpeg', args);
}

export interface StreamFacts {
  codec: string;
  width: number;
  height: number;
  frames: number;
  duration: number;
  audioDuration: number | null;
  audioCodec: string | null;
}

/** Codec, size, decoded frame count and durations of a file (or URL). */
export async function probe(file: string): Promise<StreamFacts> {
  const { stdout } = await run(
    'ffprobe',
    [
      '-v',
      'error',
      '-count_frames',
      '-show_entries',
      'stream=codec_type,codec_name,width,height,nb_read_frames,duration:format=duration',
      '-of',
      'json',
      file,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const j = JSON.parse(stdout) as { streams: Record<string, string | number>[]; format: { duration: string } };
  const v = j.streams.find((s) => s.codec_type === 'video');
  const a = j.streams.find((s) => s.codec_type === 'audio');
  if (!v) throw new Error(`${file} has no video stream`);
  return {
    codec: String(v.codec_name),
    width: Number(v.width),
    height: Number(v.height),
    frames: Number(v.nb_read_frames),
    duration: Number(j.format.duration),
    audioDuration: a ? Number(a.duration) : null,
    audioCodec: a ? String(a.codec_name) : null,
  };
}

/** stderr of a full decode; empty means it decoded without a single error. */
export async function decodeErrors(file: string): Promise<string> {
  const { stderr } = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { maxBuffer: 16 * 1024 * 1024 });
  return stderr.trim();
}
