/**
 * The HLS ladder end to end: a real coordinator, the standard 10 s 720p clip
 * transcoded by the scripted native worker (the tab's exact x264 arguments),
 * then the master playlist checked line by line and the whole ladder played
 * with hls.js in headless Chromium, level by level, to `ended`.
 *
 * The test page and hls.js (this workspace's node_modules, never a CDN) are
 * served by Playwright route interception on the coordinator's own origin, so
 * the playlists (/api/jobs/:id/hls/…) and the presigned segment URLs
 * (/storage/… on the gateway) are same-origin, as for the dashboard.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { JobView } from '@tabgrid/shared';
import { submitFile, waitForJob } from './support/api.js';
import { launchChromium } from './support/browser.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from './support/coordinator-process.js';
import { makeClip } from './support/media.js';
import { ProtocolClient } from './support/protocol-client.js';
import { storedKeys } from './support/stored-objects.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const HLS_JS = require.resolve('hls.js/dist/hls.min.js');
const RENDITIONS = ['720p', '360p'] as const;

let dir: string;
let coordinator: CoordinatorProcess;
let browser: Browser;

beforeAll(async () => {
  dir = await tempDir('hls');
  await makeClip(path.join(dir, 'clip.mp4'));
  coordinator = await startCoordinatorProcess({ name: 'hls', env: { CHUNK_SECONDS: '4' } });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await coordinator?.stop();
  await removeDir(coordinator?.dataDir);
  await removeDir(dir);
});

interface PlayResult {
  level: number;
  ended: boolean;
  fatal: string[];
  videoFrags: number[];
  audioFrags: number;
  levels: { width: number; height: number; bitrate: number; codecs: string }[];
  currentTime: number;
}

describe('HLS', () => {
  it('serves a master with measured BANDWIDTH, RESOLUTION, real CODECS, and hls.js plays every level to the end', async () => {
    const { id } = await submitFile(coordinator.api, path.join(dir, 'clip.mp4'), { renditions: RENDITIONS }); // only a 201 resolves
    const worker = new ProtocolClient(coordinator.url);
    await worker.connect();
    await worker.hello();
    let stop = false;
    const working = worker.work(() => stop);
    const job = await waitForJob(coordinator.api, id, { timeoutMs: 180_000 }).finally(async () => {
      stop = true;
      await working;
      worker.close();
    });
    expect(job.state, job.error ?? '').toBe('done');
    expect(job.hls).toEqual({ master: `/api/jobs/${id}/hls/master.m3u8` });
    expect(job.poster).toMatch(/poster\.jpg/);
    expect(job.thumbnails).toMatchObject({ columns: 10, rows: 1, count: 10, interval: 1, width: 160, height: 90 });
    for (const url of [job.poster!, job.thumbnails!.url]) {
      const img = await fetch(url);
      expect(img.status).toBe(200);
      expect(Buffer.from(await img.arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    }

    // The master, line by line.
    const masterUrl = `${coordinator.url}${job.hls!.master}`;
    expect(coordinator.api.hlsMasterUrl(id)).toBe(masterUrl);
    const master = await (await fetch(masterUrl)).text();
    console.log(master);
    const lines = master.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual([
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio.m3u8"',
    ]);
    const variants = lines.slice(4);
    expect(variants).toHaveLength(RENDITIONS.length * 2);
    const sizes = { '720p': '1280x720', '360p': '640x360' } as const;
    const peaks: number[] = [];
    for (const [i, r] of RENDITIONS.entries()) {
      const m =
        /^#EXT-X-STREAM-INF:BANDWIDTH=(\d+),AVERAGE-BANDWIDTH=(\d+),RESOLUTION=(\d+x\d+),CODECS="(avc1\.[0-9A-F]{6}),mp4a\.40\.2",FRAME-RATE=30\.000,AUDIO="aud"$/.exec(
          variants[i * 2]!,
        );
      expect(m, variants[i * 2]).not.toBeNull();
      expect(variants[i * 2 + 1]).toBe(`${r}.m3u8`);
      const [, peak, avg, res, codec] = m!;
      expect(res).toBe(sizes[r]);
      expect(Number(peak)).toBeGreaterThanOrEqual(Number(avg));
      peaks.push(Number(peak));
      // CODECS agrees with the merged MP4's SPS as ffprobe reads it: High profile, its level.
      const mp4 = job.outputs.find((o) => o.rendition === r)!;
      const { stdout } = await run('ffprobe', [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=profile,level',
        '-of',
        'json',
        mp4.url,
      ]);
      const sps = (JSON.parse(stdout) as { streams: { profile: string; level: number }[] }).streams[0]!;
      expect(sps.profile).toBe('High');
      expect(codec).toBe(`avc1.6400${sps.level.toString(16).toUpperCase().padStart(2, '0')}`);
      // Peak under the rung's VBV cap plus audio (720p: 3 Mbit/s, 360p: 0.8) with a margin for a 4 s window.
      expect(Number(peak)).toBeLessThan((r === '720p' ? 3_000_000 : 800_000) * 1.2 + 200_000);
    }
    expect(peaks[0]).toBeGreaterThan(peaks[1]!);

    // Media playlists: one segment per chunk (10 s in 4 s chunks: 4, 4, 2), every URI a presigned gateway URL.
    for (const r of RENDITIONS) {
      const text = await (await fetch(coordinator.api.hlsPlaylistUrl(id, r))).text();
      expect(text.match(/#EXTINF:([\d.]+),/g)?.map((l) => Number.parseFloat(l.slice(8)))).toEqual([4, 4, 2]);
      const uris = text.split('\n').filter((l) => l && !l.startsWith('#'));
      expect(uris.every((u) => u.startsWith(`${coordinator.url}/storage/`) && u.includes('X-Amz-Signature='))).toBe(true);
      expect(text).toMatch(/#EXT-X-MAP:URI="http[^"]+init\.mp4\?[^"]*X-Amz-Signature=/);
      // A segment URL without its signature is refused by the gateway.
      expect((await fetch(uris[0]!.split('?')[0]!)).status).toBe(403);
    }

    // Play it with hls.js, served from the test on the coordinator's origin.
    const context = await browser.newContext();
    const page = await context.newPage();
    const hlsJs = await readFile(HLS_JS, 'utf8');
    await page.route(`${coordinator.url}/__hls_test/**`, (route) =>
      route.request().url().endsWith('/hls.js')
        ? route.fulfill({ contentType: 'text/javascript', body: hlsJs })
        : route.fulfill({
            contentType: 'text/html',
            body: '<!doctype html><video id="v" muted playsinline></video><script src="hls.js"></script>',
          }),
    );
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${coordinator.url}/__hls_test/index.html`);
    const support = await page.evaluate(() => ({
      hlsJs: (window as unknown as { Hls: { isSupported(): boolean } }).Hls.isSupported(),
      avc: MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f,mp4a.40.2"'),
    }));
    console.log('MediaSource support', support);
    expect(support).toEqual({ hlsJs: true, avc: true });

    for (const level of RENDITIONS.keys()) {
      const result = await page.evaluate(
        ({ src, level }) =>
          new Promise<PlayResult>((resolve) => {
            type HlsT = {
              new (cfg: object): HlsI;
              Events: Record<string, string>;
            };
            type HlsI = {
              on(ev: string, cb: (ev: string, data: never) => void): void;
              loadSource(u: string): void;
              attachMedia(v: HTMLVideoElement): void;
              destroy(): void;
              currentLevel: number;
              levels: { width: number; height: number; bitrate: number; codecSet?: string; attrs: Record<string, string> }[];
            };
            const Hls = (window as unknown as { Hls: HlsT }).Hls;
            const old = document.getElementById('v')!;
            const video = old.cloneNode() as HTMLVideoElement;
            old.replaceWith(video);
            const hls = new Hls({ startLevel: level, capLevelToPlayerSize: false, abrEwmaDefaultEstimate: 50_000_000 });
            const out: PlayResult = { level, ended: false, fatal: [], videoFrags: [], audioFrags: 0, levels: [], currentTime: 0 };
            const finish = () => {
              out.currentTime = video.currentTime;
              hls.destroy();
              resolve(out);
            };
            hls.on(Hls.Events.MANIFEST_PARSED!, () => {
              out.levels = hls.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate, codecs: l.attrs.CODECS ?? '' }));
              hls.currentLevel = level; // pinned: no ABR switching, so this level's every segment must load
              video.playbackRate = 8;
              void video.play();
            });
            hls.on(Hls.Events.FRAG_LOADED!, (_e, data: { frag: { type: string; level: number; sn: number } }) => {
              if (data.frag.type === 'audio') out.audioFrags++;
              else if (data.frag.type === 'main') out.videoFrags.push(data.frag.level * 1000 + data.frag.sn);
            });
            hls.on(Hls.Events.ERROR!, (_e, data: { fatal: boolean; type: string; details: string }) => {
              if (data.fatal) {
                out.fatal.push(`${data.type}: ${data.details}`);
                finish();
              }
            });
            video.addEventListener('ended', () => {
              out.ended = true;
              finish();
            });
            setTimeout(finish, 60_000);
            hls.loadSource(src);
            hls.attachMedia(video);
          }),
        { src: job.hls!.master, level },
      );
      console.log(`hls.js level ${level}:`, JSON.stringify(result));
      expect(result.fatal).toEqual([]);
      expect(result.ended).toBe(true);
      expect(result.currentTime).toBeGreaterThan(9.9);
      expect([...new Set(result.videoFrags)].sort((a, b) => a - b)).toEqual([0, 1, 2].map((sn) => level * 1000 + sn));
      expect(result.audioFrags).toBeGreaterThanOrEqual(3);
      // hls.js orders levels by bandwidth, lowest first.
      expect(result.levels.map((l) => `${l.width}x${l.height}`)).toEqual(['640x360', '1280x720']);
    }
    expect(errors).toEqual([]);
    await context.close();

    // Quality figures arrive after done (the cleanup step measures them before deleting the chunks).
    const t0 = Date.now();
    let quality: JobView['quality'] = null;
    await expect
      .poll(async () => (quality = (await coordinator.api.getJob(id)).quality ?? null), { timeout: 120_000, interval: 500 })
      .not.toBeNull();
    console.log(`quality after done (+${Date.now() - t0} ms):`, JSON.stringify(quality));
    expect(quality!.map((q) => q.rendition)).toEqual([...RENDITIONS]);
    for (const q of quality!) {
      expect(q.ssim).toBeGreaterThan(0.9);
      expect(q.interiorSsim - q.boundarySsim).toBeLessThan(0.005);
      expect(q.reference!.ssim - q.ssim).toBeLessThan(0.005);
      expect(q.reference!.psnr - q.psnr).toBeLessThan(0.5);
    }

    // Delete removes the HLS objects, poster and thumbnails with the rest.
    expect((await storedKeys(coordinator.dataDir)).filter((k) => k.startsWith(`encoded/${id}/`)).length).toBeGreaterThan(10);
    await coordinator.api.deleteJob(id); // the client accepts only the route's 204
    expect((await storedKeys(coordinator.dataDir)).filter((k) => k.includes(id))).toEqual([]);
  }, 300_000);
});
