/**
 * A job with `encoder: 'webcodecs'` end to end: a real coordinator, a real
 * Chromium tab encoding with the browser's own WebCodecs (OpenH264), a tab
 * that runs x264 only (`?webcodecs=0`) and so must get none of its tasks, and
 * a scripted liar that reports WebCodecs and uploads black frames. The liar
 * is refused by the content check and caught once the honest tab's segment
 * of the same chunk passes; the outputs are frame-exact, every segment was
 * content-checked, the merged MP4s decode cleanly and play to their end in
 * Chromium.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgeSegment } from '@tabgrid/coordinator/src/media/segment-forgery.js';
import type { JobView } from '@tabgrid/shared';
import { submitFile, waitForJob } from './support/api.js';
import { type Browser, launchChromium, tabStatus, watchConsole } from './support/browser.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from './support/coordinator-process.js';
import { makeClip, probe, type StreamFacts } from './support/media.js';
import { ProtocolClient } from './support/protocol-client.js';
import { verifyOutputs } from './support/verify-output.js';

const EXPECTED = [
  { rendition: '720p', width: 1280, height: 720 },
  { rendition: '480p', width: 854, height: 480 },
  { rendition: '360p', width: 640, height: 360 },
];

let dir: string;
let clip: string;
let source: StreamFacts;
let coordinator: CoordinatorProcess;
let browser: Browser;

beforeAll(async () => {
  dir = await tempDir('webcodecs');
  clip = path.join(dir, 'clip.mp4');
  await makeClip(clip);
  source = await probe(clip);
  coordinator = await startCoordinatorProcess({ env: {}, name: 'webcodecs' });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await coordinator?.stop();
  await removeDir(coordinator?.dataDir);
  await removeDir(dir);
});

/** Plays an output MP4 to its end in the dashboard's origin, whose policy lets media come from itself (the API's forbids all media). */
async function playToEnd(url: string): Promise<{ ended: boolean; error: string | null; duration: number; currentTime: number }> {
  const page = await (await browser.newContext()).newPage();
  try {
    await page.goto(`${coordinator.url}/`);
    return await page.evaluate(async (src) => {
      const video = document.createElement('video');
      video.muted = true;
      document.body.append(video);
      return new Promise<{ ended: boolean; error: string | null; duration: number; currentTime: number }>((resolve) => {
        const done = (ended: boolean) =>
          resolve({
            ended,
            error: video.error ? `${video.error.code}: ${video.error.message}` : null,
            duration: video.duration,
            currentTime: video.currentTime,
          });
        video.addEventListener('ended', () => done(true));
        video.addEventListener('error', () => done(false));
        setTimeout(() => done(false), 60_000);
        video.addEventListener('loadedmetadata', () => {
          video.playbackRate = 8;
          void video.play();
        });
        video.src = src;
      });
    }, url);
  } finally {
    await page.context().close();
  }
}

describe('a WebCodecs job', () => {
  it('is made by WebCodecs tabs only, refuses a liar that claims WebCodecs, and ends frame-exact, merged and playable', async () => {
    // The liar connects first, so it waits longest and gets the first task.
    const liar = new ProtocolClient(coordinator.url, {
      localAddress: '127.0.0.2',
      capabilities: { encoders: ['webcodecs-h264'], threads: 4, wasmMultiThread: false },
    });
    await liar.connect();
    await liar.hello();

    const x264Only = await (await browser.newContext()).newPage();
    const x264Errors = watchConsole(x264Only);
    await x264Only.goto(`${coordinator.url}/contribute/?webcodecs=0`);
    const created = await submitFile(coordinator.api, clip, { encoder: 'webcodecs' });

    const lie = await liar.nextLease(() => true, 120_000);
    expect(lie.params).toMatchObject({ encoder: 'webcodecs' });
    expect(lie.params.bitrateKbps).toBeGreaterThan(0);
    const chunk = path.join(dir, 'lie.mkv');
    const black = path.join(dir, 'lie.mp4');
    await writeFile(chunk, Buffer.from(await (await fetch(lie.input.url)).arrayBuffer()));
    await forgeSegment({ kind: 'black', chunk, params: lie.params, out: black });
    const bytes = await readFile(black);
    const segment = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
    expect(await liar.upload(lie, segment)).toBe(200);
    const verdict = await liar.complete(lie, segment);
    expect(verdict.accepted, 'black frames refused').toBe(false);
    expect(verdict.reason).toMatch(/does not show the chunk/);
    const liarId = liar.workerId;
    liar.close();
    await rm(chunk, { force: true });

    // Only now a tab that runs WebCodecs: until it came, nobody could take the job's tasks.
    const x264Status = await tabStatus(x264Only);
    expect(x264Status?.tasksDone ?? 0, 'the x264-only tab got no WebCodecs task').toBe(0);
    const webcodecsTab = await (await browser.newContext()).newPage();
    const wcErrors = watchConsole(webcodecsTab);
    await webcodecsTab.goto(`${coordinator.url}/contribute/`);

    const job: JobView = await waitForJob(coordinator.api, created.id, { timeoutMs: 240_000 });
    expect(job.error).toBeNull();
    expect(job.state).toBe('done');
    expect(job.encoder).toEqual({ asked: 'webcodecs', chosen: 'webcodecs' });

    const tasks = await coordinator.api.getTasks(created.id);
    expect(tasks.every((t) => t.state === 'done' && t.encoder === 'webcodecs')).toBe(true);
    const { workers } = await coordinator.api.workers();
    const wcWorker = workers.find((w) => w.capabilities?.encoders.includes('webcodecs-h264') && w.id !== liarId);
    const x264Worker = workers.find((w) => w.capabilities?.encoders.join() === 'wasm-x264');
    expect(wcWorker?.capabilities?.encoders, 'the tab probed WebCodecs and lists x264 first').toEqual(['wasm-x264', 'webcodecs-h264']);
    expect(x264Worker, 'the ?webcodecs=0 tab reported x264 only').toBeDefined();
    expect(new Set(tasks.map((t) => t.worker))).toEqual(new Set([wcWorker!.id]));
    const lied = tasks.find((t) => t.history.some((h) => h.worker === liarId));
    expect(lied?.history.map((h) => h.outcome)).toEqual(['rejected', 'done']);
    expect(workers.find((w) => w.id === liarId)?.quarantinedUntil, 'the liar is caught once the honest segment passed').not.toBeNull();
    expect((await tabStatus(x264Only))?.tasksDone ?? 0).toBe(0);

    const facts = await verifyOutputs(job, { baseUrl: coordinator.url, source, expected: EXPECTED, dir });
    for (const o of job.outputs) {
      const played = await playToEnd(new URL(o.url, coordinator.url).href);
      expect(played, `${o.rendition} plays to its end`).toMatchObject({ ended: true, error: null });
      expect(Math.abs(played.duration - facts[o.rendition]!.duration)).toBeLessThan(0.1);
    }

    // The quality step measures every rendition against the frames it was made from, and a native x264 reference.
    let measured = job.quality ?? null;
    for (let i = 0; i < 120 && !measured?.length; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      measured = (await coordinator.api.getJob(created.id)).quality ?? null;
    }
    expect(measured, 'quality measured').not.toBeNull();
    for (const q of measured!) {
      console.log(
        `[webcodecs] ${q.rendition}: SSIM ${q.ssim.toFixed(4)} PSNR ${q.psnr.toFixed(2)} dB; x264 reference SSIM ${q.reference?.ssim.toFixed(4)} PSNR ${q.reference?.psnr.toFixed(2)} dB`,
      );
      expect(q.ssim, `${q.rendition} SSIM`).toBeGreaterThan(0.9);
    }
    expect([...x264Errors, ...wcErrors]).toEqual([]);
  });
});
