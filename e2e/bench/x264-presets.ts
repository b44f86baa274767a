/**
 * `tsx e2e/bench/x264-presets.ts`: which x264 preset each rung of the default
 * ladder should use in the tabs, by measurement. For a 4 s 1920x1080 30 fps
 * chunk (the bench clip's testsrc2, and the same with temporal noise, which
 * is harder on an encoder), each rung × preset is encoded with the tab's own
 * argv (x264ChunkArgs) by native ffmpeg with x264's SIMD off, one thread:
 * the wasm build has no x264 SIMD either, and native without it runs within
 * ~10 % of the single-thread core (docs/facts.md). Reports CPU seconds
 * (user + system of the ffmpeg process: wall time on a shared machine
 * measures the neighbours), SSIM against the chunk through the rung's own
 * filter chain, and kbit/s.
 *
 * measurePresets() is what the bench calls; run alone it prints a table and
 * writes e2e/artifacts/x264-presets.json. Heavy: run under the shared lock.
 */
import { execFile } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { type EncodeParams, videoFilter, x264ChunkArgs } from '@tabgrid/shared';
import { ARTIFACTS, removeDir, tempDir } from '../support/coordinator-process.js';

const run = promisify(execFile);

export type Preset = EncodeParams['preset'];
export const PRESETS: readonly Preset[] = ['veryfast', 'faster', 'superfast'];
/** The default ladder (shared/src/ladder.ts) from a 1080p source. */
export const LADDER: readonly EncodeParams[] = [
  { rendition: '720p', width: 1280, height: 720, maxrateKbps: 3000 },
  { rendition: '480p', width: 854, height: 480, maxrateKbps: 1500 },
  { rendition: '360p', width: 640, height: 360, maxrateKbps: 800 },
].map((r) => ({
  ...(r as Pick<EncodeParams, 'rendition' | 'width' | 'height' | 'maxrateKbps'>),
  codec: 'h264',
  rotation: 0,
  crf: 23,
  bufsizeKbps: 2 * r.maxrateKbps,
  preset: 'veryfast',
  frames: 120,
}));
const SOURCES = {
  testsrc2: 'testsrc2=size=1920x1080:rate=30',
  'testsrc2+noise': 'testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t',
} as const;

export interface PresetResult {
  source: keyof typeof SOURCES;
  rendition: string;
  preset: Preset;
  /** CPU seconds for the chunk, native x264 without SIMD, 1 thread (best of `repeats`). */
  seconds: number;
  ssim: number;
  kbps: number;
}

async function makeChunk(file: string, lavfi: string): Promise<void> {
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    lavfi,
    '-t',
    '4',
    '-c:v',
    'libx264',
    '-g',
    '60',
    '-pix_fmt',
    'yuv420p',
    '-f',
    'matroska',
    file,
  ]);
}

/** The tab's argv with every CPU-specific path off: x264's asm and FFmpeg's (decoder, scaler). */
function noSimdArgs(params: EncodeParams, input: string, output: string): string[] {
  const args = x264ChunkArgs(params, { input, output, threads: 1 });
  const at = args.indexOf('-f');
  return ['-v', 'error', '-y', '-cpuflags', '0', ...args.slice(0, at), '-x264-params', 'asm=0', ...args.slice(at)];
}

/** Runs ffmpeg and returns the CPU seconds (user + system) it used, from bash's `times`. */
async function cpuSecondsOf(args: readonly string[]): Promise<number> {
  const { stdout } = await run('bash', ['-c', 'ffmpeg "$@" </dev/null >/dev/null 2>&1 || exit 1; times', 'bash', ...args]);
  const children = stdout.trim().split('\n')[1] ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + 60 * Number(m[1]) + Number(m[2]), 0);
  if (!(seconds > 0)) throw new Error(`no CPU time from bash times: ${stdout}`);
  return seconds;
}

async function ssimOf(segment: string, chunk: string, params: EncodeParams): Promise<number> {
  const { stderr } = await run('ffmpeg', [
    '-hide_banner',
    '-i',
    segment,
    '-i',
    chunk,
    '-lavfi',
    `[1:v]${videoFilter(params)}[ref];[0:v][ref]ssim`,
    '-f',
    'null',
    '-',
  ]);
  const all = /SSIM .* All:([0-9.]+)/.exec(stderr)?.[1];
  if (!all) throw new Error(`no SSIM in ffmpeg output: ${stderr.slice(-300)}`);
  return Number(all);
}

export async function measurePresets(opts: { presets?: readonly Preset[]; repeats?: number } = {}): Promise<PresetResult[]> {
  const presets = opts.presets ?? PRESETS;
  const repeats = opts.repeats ?? 2;
  const dir = await tempDir('presets');
  const results: PresetResult[] = [];
  try {
    for (const [source, lavfi] of Object.entries(SOURCES) as [keyof typeof SOURCES, string][]) {
      const chunk = path.join(dir, `${source}.mkv`);
      await makeChunk(chunk, lavfi);
      for (const rung of LADDER) {
        for (const preset of presets) {
          const params = { ...rung, preset };
          const out = path.join(dir, `${source}-${rung.rendition}-${preset}.mp4`);
          let best = Number.POSITIVE_INFINITY;
          for (let i = 0; i < repeats; i++) best = Math.min(best, await cpuSecondsOf(noSimdArgs(params, chunk, out)));
          const bytes = (await stat(out)).size;
          results.push({
            source,
            rendition: rung.rendition,
            preset,
            seconds: Math.round(best * 100) / 100,
            ssim: Math.round((await ssimOf(out, chunk, params)) * 10_000) / 10_000,
            kbps: Math.round((bytes * 8) / 4 / 1000),
          });
        }
      }
    }
    return results;
  } finally {
    await removeDir(dir);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const results = await measurePresets();
  await mkdir(ARTIFACTS, { recursive: true });
  await writeFile(path.join(ARTIFACTS, 'x264-presets.json'), JSON.stringify({ at: new Date().toISOString(), results }, null, 2));
  console.table(
    results.map((r) => {
      const base = results.find((b) => b.source === r.source && b.rendition === r.rendition && b.preset === 'veryfast')!;
      return { ...r, 'time vs veryfast': (r.seconds / base.seconds).toFixed(2), 'SSIM - veryfast': (r.ssim - base.ssim).toFixed(4) };
    }),
  );
}
