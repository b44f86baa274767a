/**
 * The tab's one-decode ladder argv (x264LadderArgs) against its one-rung argv
 * (x264ChunkArgs), run with native ffmpeg on a generated chunk: every rung's
 * segment from the batch must be byte-identical to the same rung encoded
 * alone, rotated or not, because replicas are compared by hash and the
 * quality reference encodes one rung at a time. The same check in the wasm
 * core runs in e2e/multirung.e2e.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type EncodeParams, mp4SampleCount, x264ChunkArgs, x264LadderArgs } from '@tabgrid/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool } from './tools.js';

const ffmpeg = process.env.FFMPEG_PATH ?? 'ffmpeg';
const rung = (rendition: EncodeParams['rendition'], width: number, height: number, maxrateKbps: number): EncodeParams => ({
  rendition,
  codec: 'h264',
  width,
  height,
  rotation: 0,
  crf: 23,
  maxrateKbps,
  bufsizeKbps: 2 * maxrateKbps,
  preset: 'veryfast',
  frames: 30,
});
const LADDER = [rung('480p', 854, 480, 1500), rung('360p', 640, 360, 800), rung('240p', 426, 240, 400)];

let dir: string;
let chunk: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tabgrid-ladder-'));
  chunk = path.join(dir, 'chunk.mkv');
  // A 1 s 960x540 chunk like the split step's: video only, Matroska, timestamps from 0.
  await runTool(
    ffmpeg,
    [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=960x540:rate=30',
      '-t',
      '1',
      '-c:v',
      'libx264',
      '-g',
      '30',
      '-pix_fmt',
      'yuv420p',
      '-f',
      'matroska',
      chunk,
    ],
    {
      timeoutMs: 60_000,
    },
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

async function alone(p: EncodeParams, name: string): Promise<string> {
  const out = path.join(dir, `${name}-alone.mp4`);
  await runTool(ffmpeg, ['-v', 'error', '-y', ...x264ChunkArgs(p, { input: chunk, output: out, threads: 1 })], { timeoutMs: 60_000 });
  return sha(out);
}

async function together(rungs: readonly EncodeParams[], name: string): Promise<string[]> {
  const outputs = rungs.map((r) => path.join(dir, `${name}-${r.rendition}-batch.mp4`));
  await runTool(ffmpeg, ['-v', 'error', '-y', ...x264LadderArgs(rungs, { input: chunk, outputs, threads: 1 })], { timeoutMs: 60_000 });
  // What the tab checks each segment's frame count with (ffmpeg's progress names only the first output).
  for (const o of outputs) expect(mp4SampleCount(new Uint8Array(await readFile(o)))).toBe(30);
  return Promise.all(outputs.map(sha));
}

describe('x264LadderArgs with native ffmpeg', () => {
  it('makes each rung byte-identical to that rung encoded alone', async () => {
    const batch = await together(LADDER, 'plain');
    const single = await Promise.all(LADDER.map((r) => alone(r, `plain-${r.rendition}`)));
    expect(batch).toEqual(single);
    expect(new Set(batch).size).toBe(3);
  }, 120_000);

  it('also when the rungs are rotated (each chain rotates, as the single-rung chain does)', async () => {
    const rotated = LADDER.slice(0, 2).map((r) => ({ ...r, rotation: 90 as const, width: r.height, height: r.width }));
    expect(await together(rotated, 'rot')).toEqual(await Promise.all(rotated.map((r) => alone(r, `rot-${r.rendition}`))));
  }, 120_000);
});
