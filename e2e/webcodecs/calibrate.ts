/**
 * Calibrates WebCodecs' bitrate per rung so that its SSIM matches x264's
 * (CRF 23 veryfast, the tab's own argv) on the same chunk, and measures the
 * three encoders side by side. Real Chromium (playwright-core, Debian's
 * /usr/bin/chromium), generated 1080p chunks with motion and detail,
 * ffmpeg's ssim and psnr filters, scored at the source's size (each segment
 * scaled back up: encoders.ts explains why). Anyone can rerun it:
 *
 *   flock /tmp/tabgrid-heavy.lock npx tsx e2e/webcodecs/calibrate.ts [--quick] [--committed] [--out DIR]
 *
 * 1. Per content and rung: x264's SSIM and bits (native), then a bisection
 *    on WebCodecs' bitrate (log scale, 0.25–8 × x264's bits, all rungs in
 *    one call per step) for the lowest bitrate whose SSIM reaches x264's.
 *    Bits per pixel = that bitrate / (width × height × fps); the factor
 *    proposed per rung is the largest over the contents (SSIM ≥ x264's on
 *    every one measured). shared/src/encoder-choice.ts holds the factors.
 * 2. At the factors step 1 proposed (the committed ones with --committed,
 *    which skips step 1): per rung, time, kbit/s, SSIM and PSNR of
 *    WebCodecs (whole ladder in one call, and each rung alone), wasm x264
 *    (one exec per rung) and native x264 (one thread).
 * 3. The content check (coordinator/src/media/content-check.ts) on
 *    WebCodecs segments at the same factors, over the contents its
 *    thresholds were calibrated with: worst frame per rung against them.
 * Writes DIR/webcodecs-calibration.json; prints markdown tables.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { CONTENT_THRESHOLDS, judgeContent, measureContent } from '@tabgrid/coordinator/src/media/content-check.js';
import { makeTestChunk } from '@tabgrid/coordinator/src/media/segment-forgery.js';
import { planLadder, type RenditionName, WEBCODECS_BITS_PER_PIXEL } from '@tabgrid/shared';
import { type Encoded, inHarness, nativeX264, score, scoreAtSource, webcodecsParams, x264Params } from './encoders.js';
import { startHarness } from './harness-server.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, committed: { type: 'boolean', default: false }, out: { type: 'string' } },
});
const FRAMES = 120;
const FPS = 30;
const SECONDS = FRAMES / FPS;
const STEPS = values.quick ? 4 : 6;
const out = values.out ?? (await mkdtemp(path.join(tmpdir(), 'tabgrid-wc-calibration-')));
await mkdir(out, { recursive: true });

/** 1080p contents with motion and detail: a moving test picture under film grain, and a camera pan and zoom over a fractal's fine detail. */
const ALL_CONTENTS: { name: string; make: (out: string) => Promise<void> }[] = [
  {
    name: 'motion + grain',
    make: (o) => makeTestChunk({ out: o, source: 'testsrc2', width: 1920, height: 1080, frames: FRAMES, vf: 'noise=alls=10:allf=t' }),
  },
  {
    name: 'pan over fine detail',
    make: async (o) => {
      const still = `${o}.png`;
      await run('ffmpeg', [
        '-v',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        `mandelbrot=size=2400x1350:start_scale=0.02:maxiter=2000:inner=mincol:outer=normalized_iteration_count`,
        '-frames:v',
        '1',
        still,
      ]);
      await run('ffmpeg', [
        ...['-v', 'error', '-y', '-loop', '1', '-i', still],
        ...['-vf', `zoompan=z='1.15+0.001*on':x='(iw-iw/zoom)*on/${FRAMES - 1}':y='(ih-ih/zoom)/2':d=1:s=1920x1080:fps=${FPS}`],
        ...[
          '-frames:v',
          String(FRAMES),
          '-c:v',
          'libx264',
          '-preset',
          'veryfast',
          '-crf',
          '14',
          '-g',
          String(FRAMES),
          '-pix_fmt',
          'yuv420p',
          '-f',
          'matroska',
          o,
        ],
      ]);
    },
  },
];
const CONTENTS = ALL_CONTENTS.slice(0, values.quick ? 1 : 2);
/** The content check's own contents (its calibration, media/calibrate-content-check.ts), at 720p. */
const CHECK_CONTENTS = [
  { name: 'motion', source: 'testsrc2' },
  { name: 'heavy noise', source: 'testsrc2', vf: 'noise=alls=40:allf=t+u' },
  { name: 'dark, low contrast', source: 'testsrc2', vf: 'eq=brightness=-0.32:contrast=0.35' },
  { name: 'flat gradient, slow', source: 'gradients=speed=0.004:c0=0x202838:c1=0x303848' },
  { name: 'still picture', source: 'smptehdbars' },
].slice(0, values.quick ? 2 : 5);

// Steps 1 and 2 score at the source's size (scaler-neutral, encoders.ts); step 3 is the content check's own measure.
scoreAtSource({ width: 1920, height: 1080 });
const ladder = planLadder({ width: 1920, height: 1080, sarNum: 1, sarDen: 1, rotation: 0 }, ['1080p', '720p', '480p', '360p', '240p']);
const harness = await startHarness();
const fmt = (x: number, d: number) => x.toFixed(d);
const report: Record<string, unknown> = { date: new Date().toISOString(), frames: FRAMES, fps: FPS };

/** The factors steps 2 and 3 run at: step 1's proposal, or the committed ones. */
let factors: Record<string, number> = { ...WEBCODECS_BITS_PER_PIXEL };
const kbpsAt = (r: { name: RenditionName; width: number; height: number }) =>
  Math.round((factors[r.name]! * r.width * r.height * FPS) / 1000);

try {
  // ---- 1. bisection ---------------------------------------------------------
  const found: { content: string; rung: RenditionName; x264: Encoded; kbps: number; ssim: number; bpp: number }[] = [];
  for (const [ci, content] of CONTENTS.entries()) {
    const chunk = path.join(out, `content${ci}.mkv`);
    await content.make(chunk);
    if (values.committed) continue;
    const x264 = await nativeX264(
      chunk,
      ladder.map((r) => x264Params(r, FRAMES)),
      out,
      SECONDS,
    );
    const lo = x264.map((x) => Math.log(x.kbps * 0.25));
    const hi = x264.map((x) => Math.log(x.kbps * 8));
    const best: (Encoded | null)[] = ladder.map(() => null);
    for (let step = 0; step < STEPS; step++) {
      const kbps = ladder.map((_, i) => Math.round(Math.exp((lo[i]! + hi[i]!) / 2)));
      const wc = await inHarness(
        harness,
        'webcodecs',
        chunk,
        ladder.map((r, i) => webcodecsParams(r, FRAMES, FPS, kbps[i])),
        SECONDS,
      );
      for (const [i, w] of wc.entries()) {
        const mid = Math.log(kbps[i]!);
        if (w.ssim >= x264[i]!.ssim) {
          hi[i] = mid;
          if (!best[i] || kbps[i]! < best[i]!.kbps) best[i] = { ...w, kbps: kbps[i]! };
        } else lo[i] = mid;
      }
      console.error(
        `${content.name}: step ${step + 1}/${STEPS}: ${wc.map((w, i) => `${w.rendition} ${kbps[i]}k ${fmt(w.ssim, 4)}`).join(', ')}`,
      );
    }
    for (const [i, r] of ladder.entries()) {
      const b = best[i];
      const kbps = b?.kbps ?? Math.round(Math.exp(hi[i]!));
      found.push({
        content: content.name,
        rung: r.name,
        x264: x264[i]!,
        kbps,
        ssim: b?.ssim ?? Number.NaN,
        bpp: (kbps * 1000) / (r.width * r.height * FPS),
      });
    }
  }
  const proposed = Object.fromEntries(
    ladder
      .filter((r) => found.some((f) => f.rung === r.name))
      .map((r) => [r.name, Number(Math.max(...found.filter((f) => f.rung === r.name).map((f) => f.bpp)).toFixed(4))]),
  );
  if (!values.committed) factors = { ...factors, ...proposed };
  report.bisection = found.map(({ x264, ...f }) => ({ ...f, x264: { kbps: x264.kbps, ssim: x264.ssim, psnr: x264.psnr } }));
  report.proposedBitsPerPixel = proposed;
  console.log('\n### WebCodecs bitrate for x264 CRF 23 veryfast SSIM (1080p source, 4 s chunks)\n');
  console.log('| content | rung | x264 kbit/s | x264 SSIM | WebCodecs kbit/s | WebCodecs SSIM | × x264 bits | bits/pixel |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const f of found) {
    console.log(
      `| ${f.content} | ${f.rung} | ${fmt(f.x264.kbps, 0)} | ${fmt(f.x264.ssim, 4)} | ${f.kbps} | ${fmt(f.ssim, 4)} | ${fmt(f.kbps / f.x264.kbps, 2)} | ${fmt(f.bpp, 4)} |`,
    );
  }
  console.log(`\nproposed WEBCODECS_BITS_PER_PIXEL (max over contents): ${JSON.stringify(proposed)}`);
  console.log(`committed: ${JSON.stringify(WEBCODECS_BITS_PER_PIXEL)}`);

  // ---- 2. the three encoders at those factors --------------------------------
  const compared: Record<string, unknown>[] = [];
  console.log(`\n### Per rung at bits/pixel ${JSON.stringify(factors)}: WebCodecs vs wasm x264 vs native x264 (1 thread)\n`);
  console.log('| content | rung | encoder | time s | kbit/s | SSIM | PSNR dB |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [ci, content] of CONTENTS.entries()) {
    const chunk = path.join(out, `content${ci}.mkv`);
    const wcRungs = ladder.map((r) => webcodecsParams(r, FRAMES, FPS, kbpsAt(r)));
    const whole = await inHarness(harness, 'webcodecs', chunk, wcRungs, SECONDS);
    const rows: [string, Encoded[]][] = [
      ['WebCodecs, ladder in one call', whole],
      ['WebCodecs, rung alone', []],
      ['wasm x264', []],
      [
        'native x264',
        await nativeX264(
          chunk,
          ladder.map((r) => x264Params(r, FRAMES)),
          out,
          SECONDS,
        ),
      ],
    ];
    // One call at a time: a transcoder takes one call at once.
    for (const p of wcRungs) rows[1]![1].push((await inHarness(harness, 'webcodecs', chunk, [p], SECONDS))[0]!);
    for (const r of ladder) rows[2]![1].push((await inHarness(harness, 'wasm-x264', chunk, [x264Params(r, FRAMES)], SECONDS))[0]!);
    for (const [i, r] of ladder.entries()) {
      for (const [name, list] of rows) {
        const e = list[i]!;
        compared.push({ content: content.name, rung: r.name, encoder: name, ms: e.ms, kbps: e.kbps, ssim: e.ssim, psnr: e.psnr });
        const time = name.includes('ladder') ? (i === 0 ? fmt(e.ms / 1000, 2) : '〃') : fmt(e.ms / 1000, 2);
        console.log(`| ${content.name} | ${r.name} | ${name} | ${time} | ${fmt(e.kbps, 0)} | ${fmt(e.ssim, 4)} | ${fmt(e.psnr, 2)} |`);
      }
    }
  }
  report.compared = compared;
  report.factors = factors;

  // ---- 3. the content check on WebCodecs output --------------------------------
  scoreAtSource(undefined);
  const checkLadder = planLadder({ width: 1280, height: 720, sarNum: 1, sarDen: 1, rotation: 0 }, ['720p', '480p', '360p', '240p']);
  const checks: Record<string, unknown>[] = [];
  console.log('\n### Content check on WebCodecs segments at the same factors (720p source), worst frame\n');
  console.log('| content | rung | kbit/s | SSIM | PSNR dB | worst tile dB | thresholds | verdict |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [ci, content] of CHECK_CONTENTS.entries()) {
    const chunk = path.join(out, `check${ci}.mkv`);
    await makeTestChunk({ out: chunk, source: content.source, width: 1280, height: 720, frames: FRAMES, vf: content.vf });
    const rungs = checkLadder.map((r) => webcodecsParams(r, FRAMES, FPS, kbpsAt(r)));
    const r = await harness.transcode('webcodecs', chunk, rungs);
    if ('error' in r) throw new Error(`webcodecs: ${r.error.message}`);
    for (const [i, p] of rungs.entries()) {
      const m = await measureContent({ ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' }, { segment: r.segments[i]!, chunk, params: p });
      const verdict = judgeContent(m, { rendition: p.rendition, frames: FRAMES });
      const worst = 'worst' in verdict && verdict.worst ? verdict.worst : { ssim: Number.NaN, psnr: Number.NaN, tilePsnr: Number.NaN };
      const kbps = (await score(r.segments[i]!, chunk, p, SECONDS, r.ms)).kbps;
      const t = CONTENT_THRESHOLDS[p.rendition];
      checks.push({ content: content.name, rung: p.rendition, kbps, worst, ok: verdict.ok, reason: verdict.ok ? null : verdict.reason });
      console.log(
        `| ${content.name} | ${p.rendition} | ${fmt(kbps, 0)} | ${fmt(worst.ssim, 3)} | ${fmt(worst.psnr, 1)} | ${fmt(worst.tilePsnr, 1)} | ${t.ssim} / ${t.psnr} / ${t.tilePsnr} | ${verdict.ok ? 'passes' : `refused: ${verdict.reason}`} |`,
      );
    }
  }
  report.contentCheck = checks;
} finally {
  await writeFile(path.join(out, 'webcodecs-calibration.json'), JSON.stringify(report, null, 1));
  console.error(`\nJSON: ${path.join(out, 'webcodecs-calibration.json')}`);
  await harness.close();
}
