/**
 * Calibrates the content check (content-check.ts): honest encodes of varied
 * generated content against every forgery (segment-forgery.ts), per rung.
 * Prints, per rung and content, the worst frame each honest encoder reached
 * and the best frame each attack reached, and writes everything as JSON.
 * docs/facts.md ("Content check") records a run; CONTENT_THRESHOLDS sit
 * between the two.
 *
 *   npx tsx coordinator/src/media/calibrate-content-check.ts [outDir]
 *
 * Heavy (several hundred ffmpeg runs, ~10 min on 2 cores): run it under the
 * shared lock (flock /tmp/tabgrid-heavy.lock …).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type EncodeParams, planLadder, type RenditionName, RUNGS } from '@tabgrid/shared';
import { measureContent, shiftRatio } from './content-check.js';
import { type Forgery, forgeSegment, makeTestChunk } from './segment-forgery.js';

const FRAMES = 120;

interface Content {
  readonly name: string;
  readonly source: string;
  readonly vf?: string;
}

function contents(textFile: string): Content[] {
  return [
    { name: 'motion (testsrc2)', source: 'testsrc2' },
    { name: 'noise (testsrc2 + temporal noise 40)', source: 'testsrc2', vf: 'noise=alls=40:allf=t+u' },
    { name: 'dark, low contrast', source: 'testsrc2', vf: 'eq=brightness=-0.32:contrast=0.35' },
    { name: 'flat gradient, slow', source: 'gradients=speed=0.004:c0=0x202838:c1=0x303848' },
    {
      name: 'screen text, scrolling',
      source: 'color=c=white',
      vf: `drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf:textfile=${textFile}:fontsize=18:fontcolor=black:x=20:y=h-t*60:line_spacing=6`,
    },
    {
      name: 'cellular detail (life)',
      source: 'life=size=320x180:mold=10:ratio=0.3:life_color=white:death_color=black',
      vf: 'scale=iw*4:ih*4:flags=neighbor',
    },
    { name: 'still picture (bars)', source: 'smptehdbars' },
  ];
}

const HONEST: Forgery[] = ['honest', 'honest-weak'];
const ATTACKS: Forgery[] = ['black', 'tampered', 'tampered-small', 'upscaled', 'other-clip', 'shifted', 'different-encode'];

interface Row {
  rung: RenditionName;
  content: string;
  kind: Forgery;
  ssim: number;
  psnr: number;
  tilePsnr: number;
  shift: number;
  checkMs: number;
}

function paramsFor(rung: RenditionName, width: number, height: number): EncodeParams {
  const planned = planLadder({ width, height, sarNum: 1, sarDen: 1, rotation: 0 }, [rung])[0]!;
  return {
    rendition: rung,
    codec: 'h264',
    width: planned.width,
    height: planned.height,
    rotation: 0,
    crf: planned.crf,
    maxrateKbps: planned.maxrateKbps,
    bufsizeKbps: planned.bufsizeKbps,
    preset: 'veryfast',
    frames: FRAMES,
  };
}

async function main(): Promise<void> {
  const out = process.argv[2] ?? (await mkdtemp(path.join(tmpdir(), 'tabgrid-calibrate-')));
  await mkdir(out, { recursive: true });
  const textFile = path.join(out, 'screen.txt');
  await writeFile(
    textFile,
    Array.from(
      { length: 120 },
      (_, i) => `${String(i + 1).padStart(4)}  const segment${i} = await verify(chunk[${i}], { rung: '480p', frames: ${i * 7} });`,
    ).join('\n'),
  );
  const plans: { width: number; height: number; rungs: RenditionName[]; only?: string[] }[] = [
    { width: 1280, height: 720, rungs: ['720p', '480p', '360p', '240p'] },
    {
      width: 1920,
      height: 1080,
      rungs: ['1080p'],
      only: ['motion (testsrc2)', 'noise (testsrc2 + temporal noise 40)', 'screen text, scrolling'],
    },
  ];
  const rows: Row[] = [];
  for (const plan of plans) {
    for (const content of contents(textFile)) {
      if (plan.only && !plan.only.includes(content.name)) continue;
      const chunk = path.join(out, `chunk_${plan.height}_${rows.length}.mkv`);
      await makeTestChunk({ out: chunk, source: content.source, width: plan.width, height: plan.height, frames: FRAMES, vf: content.vf });
      for (const rung of plan.rungs) {
        const params = paramsFor(rung, plan.width, plan.height);
        for (const kind of [...HONEST, ...ATTACKS]) {
          const segment = path.join(out, `${rung}_${kind}.mp4`);
          await forgeSegment({ kind, chunk, params, out: segment });
          const m = await measureContent({ ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' }, { segment, chunk, params });
          const min = (k: 'ssim' | 'psnr' | 'tilePsnr') => Math.min(...m.frames.map((f) => f[k]));
          const row: Row = {
            rung,
            content: content.name,
            kind,
            ssim: min('ssim'),
            psnr: min('psnr'),
            tilePsnr: min('tilePsnr'),
            shift: shiftRatio(m.frames).ratio,
            checkMs: m.elapsedMs,
          };
          rows.push(row);
          console.log(
            [
              rung,
              content.name.padEnd(36),
              kind.padEnd(16),
              row.ssim.toFixed(3),
              row.psnr.toFixed(1),
              row.tilePsnr.toFixed(1),
              row.shift.toFixed(3),
              row.checkMs.toFixed(0),
            ].join('\t'),
          );
        }
      }
      await rm(chunk, { force: true });
    }
  }
  await writeFile(path.join(out, 'calibration.json'), JSON.stringify(rows, null, 1));
  console.log('\nper rung: honest worst (min over contents and encoders) vs each attack best (max over contents)');
  for (const rung of Object.keys(RUNGS) as RenditionName[]) {
    const of = (kinds: Forgery[]) => rows.filter((r) => r.rung === rung && kinds.includes(r.kind));
    const honest = of(HONEST);
    if (honest.length === 0) continue;
    const lo = (k: keyof Row) => Math.min(...honest.map((r) => r[k] as number));
    console.log(
      `${rung} honest: ssim ≥ ${lo('ssim').toFixed(3)}, psnr ≥ ${lo('psnr').toFixed(1)}, tile ≥ ${lo('tilePsnr').toFixed(1)}, shift ≥ ${lo('shift').toFixed(2)}`,
    );
    for (const kind of ATTACKS) {
      const a = of([kind]);
      const hi = (k: keyof Row) => Math.max(...a.map((r) => r[k] as number));
      console.log(
        `  ${kind.padEnd(16)} ssim ≤ ${hi('ssim').toFixed(3)}, psnr ≤ ${hi('psnr').toFixed(1)}, tile ≤ ${hi('tilePsnr').toFixed(1)}, shift ≤ ${hi('shift').toFixed(2)}`,
      );
    }
  }
  console.log(`\nJSON: ${path.join(out, 'calibration.json')}`);
}

await main();
