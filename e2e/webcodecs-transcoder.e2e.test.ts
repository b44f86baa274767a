/**
 * The WebCodecs transcoder itself in real Chromium (the harness page runs
 * the tab's own module and worker): one decode of a 1080p chunk to three
 * rungs, each a frame-exact MP4 from timestamp 0 that passes the
 * coordinator's checks; a rotated chunk; and what must fail cleanly, with
 * the transcoder still working afterwards: a file that is no video, a codec
 * this browser's decoder refuses (HEVC: no software decoder in Chromium),
 * a chunk shorter than the task says, an abort.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeContent, measureContent } from '@tabgrid/coordinator/src/media/content-check.js';
import { inspectSegment } from '@tabgrid/coordinator/src/media/inspect-segment.js';
import { makeTestChunk } from '@tabgrid/coordinator/src/media/segment-forgery.js';
import { type EncodeParams, planLadder } from '@tabgrid/shared';
import { removeDir, tempDir } from './support/coordinator-process.js';
import { webcodecsParams } from './webcodecs/encoders.js';
import { type Harness, startHarness } from './webcodecs/harness-server.js';

const run = promisify(execFile);
const TOOLS = { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };
const FRAMES = 120;

let dir: string;
let harness: Harness;
let chunk: string;
const ladder = planLadder({ width: 1920, height: 1080, sarNum: 1, sarDen: 1, rotation: 0 }, ['720p', '480p', '360p']);
const rungs: EncodeParams[] = ladder.map((r) => webcodecsParams(r, FRAMES, 30));

beforeAll(async () => {
  dir = await tempDir('webcodecs-transcoder');
  chunk = path.join(dir, 'chunk.mkv');
  await makeTestChunk({ out: chunk, source: 'testsrc2', width: 1920, height: 1080, frames: FRAMES });
  harness = await startHarness();
  expect(await harness.probe(), 'this Chromium encodes H.264 with WebCodecs').toBe(true);
});
afterAll(async () => {
  await harness?.close();
  await removeDir(dir);
});

async function streamOf(file: string) {
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=profile,start_time,r_frame_rate,duration', '-of', 'json', file],
  ]);
  return (JSON.parse(stdout) as { streams: Record<string, string>[] }).streams[0]!;
}

async function expectError(r: Awaited<ReturnType<Harness['transcode']>>, code: string, message: RegExp): Promise<void> {
  expect('error' in r ? r.error.code : 'succeeded').toBe(code);
  if ('error' in r) expect(r.error.message).toMatch(message);
  // The transcoder still works after any failure.
  const again = await harness.transcode('webcodecs', chunk, rungs.slice(2));
  expect('segments' in again, JSON.stringify(again)).toBe(true);
}

describe('WebCodecs transcoder in Chromium', () => {
  it('decodes a 1080p chunk once into three frame-exact rungs from t=0 that pass the coordinator’s checks', async () => {
    const r = await harness.transcode('webcodecs', chunk, rungs);
    if ('error' in r) throw new Error(r.error.message);
    for (const [i, p] of rungs.entries()) {
      const segment = r.segments[i]!;
      expect(await inspectSegment(TOOLS, segment, p), `${p.rendition} inspected`).toEqual({ ok: true });
      expect(await streamOf(segment)).toMatchObject({ profile: 'Constrained Baseline', start_time: '0.000000', r_frame_rate: '30/1' });
      const verdict = judgeContent(await measureContent(TOOLS, { segment, chunk, params: p }), { rendition: p.rendition, frames: FRAMES });
      expect(verdict.ok, `${p.rendition}: ${verdict.ok ? '' : verdict.reason}`).toBe(true);
    }
  });

  it('turns a chunk by the rotation it is given, before scaling', async () => {
    const portrait = path.join(dir, 'portrait.mkv');
    await makeTestChunk({ out: portrait, source: 'testsrc2', width: 1280, height: 720, frames: 60 });
    const p: EncodeParams = { ...webcodecsParams(ladder[1]!, 60, 30), width: 480, height: 854, rotation: 90 };
    const r = await harness.transcode('webcodecs', portrait, [p]);
    if ('error' in r) throw new Error(r.error.message);
    expect(await inspectSegment(TOOLS, r.segments[0]!, p)).toEqual({ ok: true });
    // Measured against the chunk turned clockwise by ffmpeg: a wrong direction would be another picture.
    const verdict = judgeContent(await measureContent(TOOLS, { segment: r.segments[0]!, chunk: portrait, params: p }), {
      rendition: p.rendition,
      frames: 60,
    });
    expect(verdict.ok, verdict.ok ? '' : verdict.reason).toBe(true);
  });

  it('fails a file that is no video as decode_failed', async () => {
    const junk = path.join(dir, 'junk.mkv');
    await writeFile(junk, Buffer.from('this is not a video, only text pretending to be one\n'.repeat(200)));
    await expectError(await harness.transcode('webcodecs', junk, rungs), 'decode_failed', /not a readable video|no video track/);
  });

  it('fails a codec the browser’s decoder refuses (HEVC) as decode_failed', async () => {
    const hevc = path.join(dir, 'hevc.mkv');
    await run('ffmpeg', [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-frames:v', '30'],
      ...['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-f', 'matroska', hevc],
    ]);
    const p = rungs.slice(2).map((r) => ({ ...r, frames: 30 }));
    await expectError(await harness.transcode('webcodecs', hevc, p), 'decode_failed', /cannot decode/);
  });

  it('fails a chunk with fewer frames than the task says, before encoding anything', async () => {
    await expectError(
      await harness.transcode(
        'webcodecs',
        chunk,
        rungs.map((r) => ({ ...r, frames: FRAMES + 1 })),
      ),
      'bad_output',
      /120 video packets, the task says 121 frames/,
    );
  });

  it('stops when aborted, and works again at once', async () => {
    await expectError(await harness.transcode('webcodecs', chunk, rungs, 50), 'aborted', /aborted/);
  });
});
