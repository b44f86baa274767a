/**
 * The native transcoder against the system's ffmpeg (real chunks generated
 * at test time) and against small fake ffmpegs (shell scripts) for the
 * cases a real one cannot be made to show on demand: a hang, an output that
 * keeps growing, a process that leaves children behind.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type EncodeParams, x264ChunkArgs, x264LadderArgs } from '@tabgrid/shared';
import { isTranscodeError, type TranscodeProgress } from '@tabgrid/web-worker-client/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATIVE_REPORT_FLAGS, nativeArgv } from './native-argv.js';
import { NativeTranscoder } from './native-transcoder.js';

const run = promisify(execFile);

const r240: EncodeParams = {
  rendition: '240p',
  codec: 'h264',
  width: 426,
  height: 240,
  rotation: 0,
  crf: 23,
  maxrateKbps: 400,
  bufsizeKbps: 800,
  preset: 'veryfast',
  frames: 60,
};

const r360: EncodeParams = { ...r240, rendition: '360p', width: 640, height: 360, maxrateKbps: 800, bufsizeKbps: 1600 };

let dir: string;
let chunk: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'native-transcoder-'));
  const file = path.join(dir, 'chunk.mkv');
  // A chunk as the split hands them out: video-only Matroska, H.264, 60 frames.
  await run('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-frames:v', '60'],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '14', '-g', '60', file],
  ]);
  chunk = await readFile(file);
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What a rejected transcode was rejected with: its TranscodeError code and message. */
async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isTranscodeError(e)) return { code: e.code, message: e.message };
    return { code: 'not a TranscodeError', message: String(e) };
  }
  return { code: 'resolved', message: '' };
}

/** A process is gone once it has no /proc entry or is a zombie waiting for a parent to reap it. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A fake ffmpeg: a shell script that records its pid and its child's, then does `body`. */
async function fakeFfmpeg(name: string, body: string): Promise<{ path: string; pids: () => Promise<number[]> }> {
  const file = path.join(dir, name);
  const pids = path.join(dir, `${name}.pids`);
  await writeFile(
    file,
    `#!/bin/sh
# load() asks for the version and for libx264's help
case "$*" in *-version*) echo "ffmpeg version fake"; exit 0;; *encoder=libx264*) echo "Encoder libx264 [fake]"; exit 0;; esac
for last; do :; done
${body}
`,
  );
  await chmod(file, 0o755);
  return {
    path: file,
    pids: async () => (await readFile(pids, 'utf8')).trim().split(/\s+/).map(Number),
  };
}

describe('nativeArgv', () => {
  it('is the tab’s own x264 recipe, untouched, behind options that only change what ffmpeg reports', () => {
    const argv = nativeArgv([r240], { input: '/t/in.mkv', outputs: ['/t/out.mp4'], threads: 8 });
    const recipe = x264ChunkArgs(r240, { input: '/t/in.mkv', output: '/t/out.mp4', threads: 8, maxThreads: 64 });
    expect(argv).toEqual([...NATIVE_REPORT_FLAGS, ...recipe]);
    expect(NATIVE_REPORT_FLAGS).toEqual(['-nostdin', '-y', '-nostats', '-progress', 'pipe:1']);
  });

  it('decodes once for several rungs: the shared ladder recipe (split into one chain per rung)', () => {
    const outputs = ['/t/0.mp4', '/t/1.mp4'];
    const argv = nativeArgv([r360, r240], { input: '/t/in.mkv', outputs, threads: 8 });
    expect(argv).toEqual([
      ...NATIVE_REPORT_FLAGS,
      ...x264LadderArgs([r360, r240], { input: '/t/in.mkv', outputs, threads: 8, maxThreads: 64 }),
    ]);
    expect(argv.filter((a) => a === '-i')).toHaveLength(1);
  });

  it('takes the operator’s thread count up to 64, and refuses more', () => {
    const argv = nativeArgv([r240], { input: 'i', outputs: ['o'], threads: 64 });
    expect(argv.flatMap((a, i) => (a === '-threads' ? [argv[i + 1]] : []))).toEqual(['64', '64']);
    expect(() => nativeArgv([r240], { input: 'i', outputs: ['o'], threads: 65 })).toThrow(RangeError);
    expect(() => new NativeTranscoder({ threads: 0 })).toThrow(RangeError);
  });

  it('needs one output path per rung', () => {
    expect(() => nativeArgv([r240], { input: 'i', outputs: [], threads: 1 })).toThrow(RangeError);
  });
});

describe('NativeTranscoder with the system ffmpeg', () => {
  it('loads only an ffmpeg with libx264, and says which one is missing', async () => {
    const t = new NativeTranscoder({ threads: 1 });
    await t.load();
    expect(t.loaded).toBe(true);
    expect(t.version).toMatch(/^ffmpeg version /);
    const missing = new NativeTranscoder({ threads: 1, ffmpegPath: path.join(dir, 'no-such-ffmpeg') });
    expect(await failure(missing.load())).toMatchObject({ code: 'load_failed', message: expect.stringContaining('no-such-ffmpeg') });
    const noX264 = await fakeFfmpeg('no-x264', 'exit 0');
    await writeFile(noX264.path, '#!/bin/sh\necho "ffmpeg version fake"\n');
    expect(await failure(new NativeTranscoder({ threads: 1, ffmpegPath: noX264.path }).load())).toMatchObject({ code: 'load_failed' });
  });

  it('transcodes a chunk into a segment of exactly its frames, reporting progress up to the whole chunk', async () => {
    const runs = await mkdtemp(path.join(dir, 'runs-'));
    const t = new NativeTranscoder({ threads: 2, tmpDir: runs });
    const seen: TranscodeProgress[] = [];
    const [segment] = await t.transcode(chunk, [r240], { onProgress: (p) => seen.push(p) });
    const file = path.join(dir, 'segment.mp4');
    await writeFile(file, segment!);
    const { stdout } = await run('ffprobe', [
      ...['-v', 'error', '-select_streams', 'v:0', '-count_frames'],
      ...['-show_entries', 'stream=codec_name,width,height,nb_read_frames,start_time', '-of', 'json', file],
    ]);
    expect(JSON.parse(stdout).streams[0]).toMatchObject({ codec_name: 'h264', width: 426, height: 240, nb_read_frames: '60' });
    expect(Number(JSON.parse(stdout).streams[0].start_time)).toBe(0);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toMatchObject({ frames: 60, ratio: 1, inputFps: 30 });
    expect(seen.every((p, i) => i === 0 || p.frames > seen[i - 1]!.frames)).toBe(true);
    // The private folder is gone after the run.
    expect(await readdir(runs)).toEqual([]);
  }, 60_000);

  it('makes several rungs from one decode, each segment byte-identical to that rung made alone', async () => {
    const t = new NativeTranscoder({ threads: 2 });
    const seen: TranscodeProgress[] = [];
    const both = await t.transcode(chunk, [r360, r240], { onProgress: (p) => seen.push(p) });
    const [alone360] = await t.transcode(chunk, [r360]);
    const [alone240] = await t.transcode(chunk, [r240]);
    expect(Buffer.from(both[0]!).equals(Buffer.from(alone360!))).toBe(true);
    expect(Buffer.from(both[1]!).equals(Buffer.from(alone240!))).toBe(true);
    expect(seen.at(-1)).toMatchObject({ frames: 60, ratio: 1 });
  }, 60_000);

  it('refuses a chunk that is not video, quoting ffmpeg', async () => {
    const t = new NativeTranscoder({ threads: 1 });
    const garbage = new TextEncoder().encode('this is not a video\n'.repeat(100));
    const e = await failure(t.transcode(garbage, [r240]));
    expect(e.code).toBe('ffmpeg_failed');
    expect(e.message).toMatch(/Invalid data found when processing input/);
  }, 60_000);

  it('refuses a segment whose frame count is not the chunk’s (the merge needs it exact)', async () => {
    const t = new NativeTranscoder({ threads: 1 });
    const e = await failure(t.transcode(chunk, [{ ...r240, frames: 61 }]));
    expect(e).toMatchObject({ code: 'bad_output', message: '240p segment has 60 frames, the chunk has 61' });
  }, 60_000);

  it('refuses rungs that are not of one chunk, or more than it takes at once', async () => {
    const t = new NativeTranscoder({ threads: 1 });
    expect((await failure(t.transcode(chunk, [r240, { ...r240, rendition: '360p', frames: 59 }]))).code).toBe('invalid_rungs');
    expect((await failure(t.transcode(chunk, []))).code).toBe('invalid_rungs');
  });

  it('stops on abort: ffmpeg is killed, the call rejects "aborted" and the transcoder stays usable', async () => {
    const slow = await fakeFfmpeg('slow', `echo $$ > "$0.pids"; echo "frame=1"; echo "progress=continue"; exec sleep 1000`);
    const t = new NativeTranscoder({ threads: 1, ffmpegPath: slow.path });
    const controller = new AbortController();
    const p = failure(t.transcode(chunk, [r240], { signal: controller.signal, onProgress: () => controller.abort() }));
    expect((await p).code).toBe('aborted');
    const [pid] = await slow.pids();
    await until(async () => !(await alive(pid!)), 'the fake ffmpeg to die');
    expect(await failure(t.transcode(chunk, [r240], { signal: AbortSignal.abort() }))).toMatchObject({ code: 'aborted' });
  });
});

describe('NativeTranscoder limits (fake ffmpegs)', () => {
  it('kills a run that shows no new frame within the stall timeout, with every process it started', async () => {
    const hang = await fakeFfmpeg('hang', `sleep 1000 & echo "$$ $!" > "$0.pids"; echo "frame=3"; echo "progress=continue"; wait`);
    const t = new NativeTranscoder({ threads: 1, ffmpegPath: hang.path, stallTimeoutMs: 300 });
    const e = await failure(t.transcode(chunk, [r240]));
    expect(e).toMatchObject({ code: 'stalled', message: expect.stringContaining('frame 3/60') });
    for (const pid of await hang.pids()) await until(async () => !(await alive(pid)), `process ${pid} to die`);
  });

  it('kills a run over its time limit even while it makes progress', async () => {
    const busy = await fakeFfmpeg(
      'busy',
      `echo $$ > "$0.pids"; i=0; while true; do i=$((i+1)); echo "frame=$i"; echo "progress=continue"; sleep 0.05; done`,
    );
    const t = new NativeTranscoder({ threads: 1, ffmpegPath: busy.path, timeLimitMs: 500 });
    expect(await failure(t.transcode(chunk, [r240]))).toMatchObject({
      code: 'ffmpeg_failed',
      message: expect.stringContaining('time limit'),
    });
    const [pid] = await busy.pids();
    await until(async () => !(await alive(pid!)), 'the fake ffmpeg to die');
  });

  it('kills a run whose output grows past the rung’s bound', async () => {
    // 60 frames of 240p may weigh at most ~4.1 MB (maxSegmentBytes); this writes 8 MB.
    const big = await fakeFfmpeg(
      'big',
      `echo $$ > "$0.pids"; head -c 8000000 /dev/zero > "$last"; echo "frame=1"; echo "progress=continue"; exec sleep 1000`,
    );
    const t = new NativeTranscoder({ threads: 1, ffmpegPath: big.path });
    expect(await failure(t.transcode(chunk, [r240]))).toMatchObject({
      code: 'bad_output',
      message: expect.stringContaining('over its bound'),
    });
    const [pid] = await big.pids();
    await until(async () => !(await alive(pid!)), 'the fake ffmpeg to die');
  });

  it('refuses a success whose segment is no MP4, or missing', async () => {
    const quiet = await fakeFfmpeg('quiet', `echo data > "$last"; exit 0`);
    expect(await failure(new NativeTranscoder({ threads: 1, ffmpegPath: quiet.path }).transcode(chunk, [r240]))).toMatchObject({
      code: 'bad_output',
      message: '240p segment has no frames, the chunk has 60',
    });
    const none = await fakeFfmpeg('none', `echo "frame=60" ; exit 0`);
    expect(await failure(new NativeTranscoder({ threads: 1, ffmpegPath: none.path }).transcode(chunk, [r240]))).toMatchObject({
      code: 'bad_output',
      message: expect.stringContaining('wrote no 240p segment'),
    });
  });

  it('dispose() kills the run in hand', async () => {
    const slow = await fakeFfmpeg('slow2', `echo $$ > "$0.pids"; echo "frame=1"; echo "progress=continue"; exec sleep 1000`);
    const t = new NativeTranscoder({ threads: 1, ffmpegPath: slow.path });
    const p = failure(t.transcode(chunk, [r240], { onProgress: () => t.dispose() }));
    expect((await p).code).toBe('disposed');
    const [pid] = await slow.pids();
    await until(async () => !(await alive(pid!)), 'the fake ffmpeg to die');
  });
});
