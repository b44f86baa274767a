/**
 * `pnpm bench`: the numbers behind tabgrid's performance claims, measured in
 * one run on this machine so their ratios are comparable.
 *
 *  1. per chunk: the tab's exact x264 arguments run natively (1 thread) vs in
 *     ffmpeg.wasm in a real Chromium tab (from the task attempts' timings);
 *  2. per chunk, the same chunks: what the coordinator's check of the segment
 *     costs (decode check + content check: both videos decoded, per-frame
 *     PSNR/SSIM/tiles/frame hashes), against the transcode it checks;
 *  3. the grid: wall time from upload to `done` with 1 and with 2 tabs.
 *
 * Writes a table to stdout and JSON to e2e/artifacts/bench.json.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { type EncodeParams, x264ChunkArgs } from '@tabgrid/shared';
import { judgeContent, measureContent } from '@tabgrid/coordinator/src/media/content-check.js';
import { inspectSegment } from '@tabgrid/coordinator/src/media/inspect-segment.js';
import { submitFile, waitForJob } from '../support/api.js';
import { launchChromium, openContributorTabs } from '../support/browser.js';
import { ARTIFACTS, removeDir, startCoordinatorProcess, tempDir } from '../support/coordinator-process.js';
import { makeClip } from '../support/media.js';

const run = promisify(execFile);
const CLIP = { seconds: 12, width: 1280, height: 720, fps: 30, audio: true, gop: 60 };
const PARAMS: EncodeParams = {
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
};

interface PerChunk {
  /** Native x264, the tab's argv, 1 thread (s). */
  transcode: number[];
  /** The coordinator's decode check (ffprobe -count_frames) of that segment (s). */
  inspect: number[];
  /** The content check of that segment against its chunk (s). */
  content: number[];
}

const TOOLS = { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };

async function nativePerChunk(dir: string, clip: string): Promise<PerChunk> {
  const chunks = path.join(dir, 'chunks');
  await mkdir(chunks, { recursive: true });
  await run('ffmpeg', [
    '-v',
    'error',
    '-i',
    clip,
    '-map',
    '0:v:0',
    '-c',
    'copy',
    '-f',
    'segment',
    '-segment_time',
    '4',
    '-reset_timestamps',
    '1',
    '-segment_format',
    'matroska',
    path.join(chunks, 'c%03d.mkv'),
  ]);
  const times: PerChunk = { transcode: [], inspect: [], content: [] };
  for (const name of (await readdir(chunks)).sort()) {
    const chunk = path.join(chunks, name);
    const segment = path.join(dir, `${name}.mp4`);
    let started = performance.now();
    await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...x264ChunkArgs(PARAMS, { input: chunk, output: segment, threads: 1 })]);
    times.transcode.push((performance.now() - started) / 1000);
    // The same segment, checked as the coordinator checks it (scheduler/verify-segment.ts), one step at a time.
    started = performance.now();
    const decoded = await inspectSegment(TOOLS, segment, PARAMS);
    times.inspect.push((performance.now() - started) / 1000);
    if (!decoded.ok) throw new Error(`bench segment ${name} failed the decode check: ${decoded.reason}`);
    started = performance.now();
    const measured = await measureContent(TOOLS, { segment, chunk, params: PARAMS });
    times.content.push((performance.now() - started) / 1000);
    const verdict = judgeContent(measured, { rendition: PARAMS.rendition, frames: PARAMS.frames });
    if (!verdict.ok) throw new Error(`bench segment ${name} failed the content check: ${verdict.reason}`);
  }
  return times;
}

async function gridRun(clip: string, tabs: number): Promise<{ wallSeconds: number; taskSeconds: number[] }> {
  const coordinator = await startCoordinatorProcess({ name: `bench-${tabs}tabs`, env: { RENDITIONS: '480p', LOG_LEVEL: 'warn' } });
  const browser = await launchChromium();
  try {
    await openContributorTabs(browser, coordinator.url, tabs);
    // Let the tabs load the wasm core first: the wall time measures transcoding, not page load.
    await new Promise((r) => setTimeout(r, 3000));
    const started = performance.now();
    const { id } = await submitFile(coordinator.api, clip);
    const job = await waitForJob(coordinator.api, id, { timeoutMs: 300_000 });
    if (job.state !== 'done') throw new Error(`bench job ended ${job.state}: ${job.error}`);
    const wallSeconds = (performance.now() - started) / 1000;
    const tasks = await coordinator.api.getTasks(id);
    const taskSeconds = tasks.flatMap((t) =>
      t.history.filter((h) => h.outcome === 'done' && h.endedAt).map((h) => (Date.parse(h.endedAt!) - Date.parse(h.startedAt)) / 1000),
    );
    return { wallSeconds, taskSeconds };
  } finally {
    await browser.close();
    await coordinator.stop();
    await removeDir(coordinator.dataDir);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const dir = await tempDir('bench');
  try {
    const clip = path.join(dir, 'clip.mp4');
    await makeClip(clip, CLIP);
    const native = await nativePerChunk(dir, clip);
    const one = await gridRun(clip, 1);
    const two = await gridRun(clip, 2);
    const wasmChunk = median(one.taskSeconds);
    const checkSeconds = median(native.inspect.map((x, i) => x + native.content[i]!));
    const result = {
      clip: CLIP,
      rendition: `${PARAMS.rendition} ${PARAMS.width}x${PARAMS.height} x264 ${PARAMS.preset} crf ${PARAMS.crf}`,
      nativeChunkSeconds: median(native.transcode),
      wasmTaskSeconds: wasmChunk,
      wasmOverNative: wasmChunk / median(native.transcode),
      checkDecodeSeconds: median(native.inspect),
      checkContentSeconds: median(native.content),
      checkSeconds,
      checkOverNativeTranscode: checkSeconds / median(native.transcode),
      checkOverWasmTask: checkSeconds / wasmChunk,
      grid1TabWallSeconds: one.wallSeconds,
      grid2TabsWallSeconds: two.wallSeconds,
      speedup2Tabs: one.wallSeconds / two.wallSeconds,
      realtimeFactor2Tabs: CLIP.seconds / two.wallSeconds,
    };
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(path.join(ARTIFACTS, 'bench.json'), JSON.stringify(result, null, 2));
    console.log(
      `tabgrid bench (${new Date().toISOString()}), ${CLIP.seconds} s ${CLIP.width}x${CLIP.height} ${CLIP.fps} fps → ${result.rendition}`,
    );
    console.table({
      'native x264, 1 thread, per 4 s chunk (s)': result.nativeChunkSeconds.toFixed(2),
      'ffmpeg.wasm in a tab, per task incl. download/upload (s)': result.wasmTaskSeconds.toFixed(2),
      'wasm / native': result.wasmOverNative.toFixed(1),
      'coordinator check per segment: decode (s)': result.checkDecodeSeconds.toFixed(2),
      'coordinator check per segment: content (s)': result.checkContentSeconds.toFixed(2),
      'check / native transcode of the same chunk': result.checkOverNativeTranscode.toFixed(2),
      'check / wasm task': result.checkOverWasmTask.toFixed(2),
      'grid, 1 tab, upload → done (s)': result.grid1TabWallSeconds.toFixed(1),
      'grid, 2 tabs, upload → done (s)': result.grid2TabsWallSeconds.toFixed(1),
      'speed-up 1 → 2 tabs': result.speedup2Tabs.toFixed(2),
      '× realtime with 2 tabs': result.realtimeFactor2Tabs.toFixed(2),
    });
  } finally {
    await removeDir(dir);
  }
}

await main();
