/**
 * probe → (mezzanine) → split on a generated corpus, native ffmpeg only:
 * the decision per source, frame counts adding up, a keyframe at every chunk
 * start, chunk counts ≈ duration / CHUNK_SECONDS, rotation and SAR kept.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSource, isVariableFrameRate, makeMezzanine } from './normalize.js';
import { probeSource } from './probe.js';
import { countPackets, splitIntoChunks } from './split.js';
import { corpusCases, makeCorpus } from './test-corpus.js';
import { runTool, type MediaTools } from './tools.js';

const tools: MediaTools = { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };
const CHUNK_SECONDS = 4;
let dir: string;
const cases = corpusCases('/nonexistent').map((c) => c.name);

async function firstPacketIsKey(file: string): Promise<boolean> {
  const { stdout } = await runTool(tools.ffprobe, [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-read_intervals',
    '%+#1',
    '-show_entries',
    'packet=flags',
    '-of',
    'csv=p=0',
    file,
  ]);
  return stdout.trim().split('\n')[0]!.startsWith('K');
}

async function sampleAspect(file: string): Promise<string> {
  const { stdout } = await runTool(tools.ffprobe, [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=sample_aspect_ratio',
    '-of',
    'csv=p=0',
    file,
  ]);
  return stdout.trim();
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tabgrid-corpus-'));
  await makeCorpus(corpusCases(dir));
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('isVariableFrameRate', () => {
  it('takes millisecond rounding of 29.97 fps as constant and a dropped frame as variable', () => {
    const ntscMs = Array.from({ length: 100 }, (_, i) => Math.round((i * 1001) / 30) / 1000);
    expect(isVariableFrameRate(ntscMs)).toBe(false);
    expect(isVariableFrameRate([0, 1 / 30, 2 / 30, 4 / 30, 5 / 30])).toBe(true);
  });
});

describe('analyzeSource on a damaged file', () => {
  it('names a Matroska file cut short (ffprobe reads its header fine) and no clean file', async () => {
    const whole = path.join(dir, 'whole.mkv');
    await runTool(tools.ffmpeg, ['-v', 'error', '-y', '-i', corpusCases(dir)[1]!.file, '-c', 'copy', whole]);
    expect((await analyzeSource(tools, whole, CHUNK_SECONDS)).damaged).toBeNull();
    const cut = path.join(dir, 'cut.mkv');
    const bytes = await readFile(whole);
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expect((await probeSource(tools, cut)).duration).toBeGreaterThan(5);
    expect((await analyzeSource(tools, cut, CHUNK_SECONDS)).damaged).toMatch(/ended prematurely/);
  });
});

describe.each(cases)('corpus: %s', (name) => {
  it('is split into frame-exact, keyframe-led chunks', async () => {
    const c = corpusCases(dir).find((x) => x.name === name)!;
    const probed = await probeSource(tools, c.file);
    expect(probed.rotation % 180 === 90).toBe(c.portrait);
    expect(probed.hasAudio).toBe(c.hasAudio);
    expect([probed.width, probed.height]).toEqual([c.width, c.height]);
    if (c.sar) expect([probed.sarNum, probed.sarDen]).toEqual(c.sar);

    const analysis = await analyzeSource(tools, c.file, CHUNK_SECONDS);
    expect(analysis.reasons).toEqual(c.reasons);
    expect(analysis.damaged).toBeNull();

    const work = path.join(dir, `${path.basename(c.file)}.work`);
    await mkdir(work, { recursive: true });
    let splitFrom = c.file;
    if (analysis.reasons.length) {
      splitFrom = path.join(work, 'mezzanine.mkv');
      const started = performance.now();
      await makeMezzanine(tools, c.file, splitFrom, {
        frameRate: analysis.frameRate,
        chunkSeconds: CHUNK_SECONDS,
        interlaced: analysis.reasons.includes('interlaced'),
        oddSize: c.width % 2 === 1 || c.height % 2 === 1,
      });
      const ms = performance.now() - started;
      const [n, d = 1] = analysis.frameRate.split('/').map(Number);
      const fps = n! / d;
      const mezz = await countPackets(tools, splitFrom);
      // Constant rate at the source's rate for the source's whole duration.
      // A VFR stream's last frame lasts whatever its muxer guessed (MP4: one nominal frame, here 0.1 s in
      // the source): up to 3 frames of slack at the end against the file's (audio's) duration.
      const slack = analysis.reasons.includes('vfr') ? 3 : 1;
      expect(Math.abs(mezz.frames - Math.round(probed.duration * fps))).toBeLessThanOrEqual(slack);
      expect(Math.abs(mezz.duration - probed.duration)).toBeLessThanOrEqual((slack + 0.5) / fps);
      // Coded picture kept (rotation is applied by the tab), SAR kept.
      const mp = await probeSource(tools, splitFrom);
      expect([mp.width, mp.height]).toEqual([c.width, c.height]);
      if (c.sar) expect([mp.sarNum, mp.sarDen]).toEqual(c.sar);
      expect((await analyzeSource(tools, splitFrom, CHUNK_SECONDS)).reasons).toEqual([]);
      console.info(
        `mezzanine ${name}: ${Math.round(ms)} ms for ${probed.duration.toFixed(1)} s (${(ms / 1000 / probed.duration).toFixed(3)} s per source second, ${c.width}x${c.height})`,
      );
    }

    const expected = await countPackets(tools, splitFrom);
    const chunks = await splitIntoChunks(tools, splitFrom, work, CHUNK_SECONDS);
    expect(chunks.reduce((s, x) => s + x.frames, 0)).toBe(expected.frames);
    expect(Math.abs(chunks.length - Math.ceil(expected.duration / CHUNK_SECONDS - 0.25))).toBeLessThanOrEqual(1);
    for (const chunk of chunks) {
      expect(await firstPacketIsKey(chunk.path), `chunk ${chunk.index} starts with a keyframe`).toBe(true);
      expect(chunk.duration).toBeLessThanOrEqual(CHUNK_SECONDS * 1.5 + 0.1);
    }
    if (analysis.reasons.length) {
      // Forced keyframes: every chunk but the last is exactly CHUNK_SECONDS of frames.
      const [n, d = 1] = analysis.frameRate.split('/').map(Number);
      const perChunk = Math.round((CHUNK_SECONDS * n!) / d);
      for (const chunk of chunks.slice(0, -1)) expect(chunk.frames).toBe(perChunk);
    }
    if (c.sar) expect(await sampleAspect(chunks[0]!.path)).toBe(`${c.sar[0]}:${c.sar[1]}`);
  }, 60_000);
});
