/**
 * Hostile inputs against a real coordinator process (loopback only, no
 * tabs): pathological files made with ffmpeg at test time (2,000,000 tiny
 * packets in ~30 MB, 8192×8192, 10,000 fps, a claimed duration of 200,001 s)
 * are refused with 422 in words while the coordinator keeps serving and its
 * peak memory stays bounded; URL sources that lead to loopback, in every
 * spelling, are refused with the same words without being fetched, and, in
 * a lab configuration that allows private addresses, the embedded S3
 * server's port still is (directly and through a redirect); a request whose
 * headers or upload body trickle in is cut off.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSource } from '@tabgrid/coordinator/src/media/normalize.js';
import { makePathologicalFiles, type PathologicalFiles } from '@tabgrid/coordinator/src/media/pathological-corpus.js';
import { UNREACHABLE_SOURCE } from '@tabgrid/coordinator/src/jobs/source-address.js';
import { refusal, submitFile } from './support/api.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from './support/coordinator-process.js';
import { makeClip } from './support/media.js';

let dir: string;
let files: PathologicalFiles;
let clip: string;
/** Public addresses only: the default. */
let coordinator: CoordinatorProcess;
/** ALLOW_PRIVATE_SOURCE_URLS=true: a lab. */
let lab: CoordinatorProcess;
/** A loopback file server; it counts requests, so a refused URL provably never reached it. */
let fileServer: Server;
let fileBase: string;
let served = 0;

beforeAll(async () => {
  dir = await tempDir('hostile');
  files = await makePathologicalFiles(dir);
  clip = path.join(dir, 'clip.mp4');
  await makeClip(clip, { seconds: 2, width: 320, height: 180, fps: 30, audio: false, gop: 30 });
  const env = { UPLOAD_MIN_BYTES_PER_SECOND: '1000', UPLOAD_RATE_WINDOW_SECONDS: '2', HTTP_HEADERS_TIMEOUT_SECONDS: '2' };
  coordinator = await startCoordinatorProcess({ name: 'hostile', env });
  lab = await startCoordinatorProcess({ name: 'hostile-lab', env: { ...env, ALLOW_PRIVATE_SOURCE_URLS: 'true' } });
  fileServer = createServer((req, res) => {
    served++;
    const to = /^\/to\?(.*)$/.exec(req.url ?? '');
    if (to) res.writeHead(302, { location: decodeURIComponent(to[1]!) }).end();
    else readFile(clip).then((b) => res.writeHead(200, { 'content-type': 'video/mp4' }).end(b));
  });
  await new Promise<void>((r) => fileServer.listen(0, '127.0.0.1', r));
  fileBase = `http://127.0.0.1:${(fileServer.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  fileServer?.closeAllConnections();
  await new Promise((r) => fileServer?.close(r));
  for (const c of [coordinator, lab]) {
    await c?.stop();
    await removeDir(c?.dataDir);
  }
  await removeDir(dir);
});

/** Resident memory of a process now, MiB (Linux). */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/**
 * Samples a process's resident memory every 50 ms until stopped; the highest
 * sample, MiB. (Its VmHWM is no use: start-up, PGlite included, already
 * peaks higher than anything a request does.)
 */
function sampleRss(pid: number): { stop(): Promise<number> } {
  let highest = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      highest = Math.max(highest, await rssMiB(pid));
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return highest;
    },
  };
}

/** The embedded S3 server's endpoint, from the coordinator's log. */
async function embeddedS3(c: CoordinatorProcess): Promise<URL> {
  const log = await readFile(c.logFile, 'utf8');
  const found = [...log.matchAll(/"endpoint":"(http:\/\/127\.0\.0\.1:\d+\/?)"/g)].at(-1);
  if (!found) throw new Error(`no embedded S3 endpoint in ${c.logFile}`);
  return new URL(found[1]!);
}

describe('pathological files', () => {
  it('are refused with 422 in words, the coordinator keeps serving and its memory stays bounded', async () => {
    const pid = coordinator.child.pid!;
    const before = await rssMiB(pid);
    const sampling = sampleRss(pid);
    const cases: [string, RegExp][] = [
      [files.manyPackets, /has 2,000,\d{3} frames, over the limit of 1,000,000 \(MAX_SOURCE_FRAMES\)/],
      [files.hugePicture, /8192×8192, over the limit of 4096×4096 \(MAX_SOURCE_WIDTH, MAX_SOURCE_HEIGHT\)/],
      [files.absurdFrameRate, /10,000 fps, over the limit of 240 fps \(MAX_SOURCE_FPS\)/],
      [files.hugeDuration, /200001 s long, over the limit of 14400 s \(MAX_DURATION_SECONDS\)/],
    ];
    for (const [file, words] of cases) {
      const refused = await refusal(submitFile(coordinator.api, file));
      expect(refused.status, path.basename(file)).toBe(422);
      expect(refused.message, path.basename(file)).toMatch(words);
      expect((await coordinator.api.health()).ok).toBe(true);
    }
    const highest = await sampling.stop();
    console.log(`coordinator RSS: ${before.toFixed(0)} MiB before the pathological uploads, at most ${highest.toFixed(0)} MiB during them`);
    // Collecting ffprobe's 248 MB of JSON for the packet file alone would take it past a gigabyte.
    expect(highest - before).toBeLessThan(150);
    expect((await submitFile(coordinator.api, clip)).state).toBe('queued');
  }, 120_000);

  it("the probe step's packet scan reads them as they come and stops at the packet limit", async () => {
    // What the probe step runs, in this process: before, ffprobe's 248 MB of JSON was collected and parsed here.
    const before = process.memoryUsage().rss / 2 ** 20;
    let highest = before;
    const sampler = setInterval(() => (highest = Math.max(highest, process.memoryUsage().rss / 2 ** 20)), 20);
    try {
      await expect(analyzeSource({ ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' }, files.manyPackets, 4)).rejects.toThrow(
        /has 1,000,001 frames, over the limit of 1,000,000 \(MAX_SOURCE_FRAMES\)/,
      );
    } finally {
      clearInterval(sampler);
    }
    console.log(`packet scan: RSS ${before.toFixed(0)} MiB before, at most ${highest.toFixed(0)} MiB during`);
    expect(highest - before).toBeLessThan(250);
  }, 60_000);
});

describe('URL sources (SSRF)', () => {
  async function refused(c: CoordinatorProcess, url: string): Promise<void> {
    const before = served;
    const err = await refusal(c.api.submitUrl(url));
    expect(err.status, url).toBe(422);
    expect(err.message, url).toBe(UNREACHABLE_SOURCE);
    expect(served, `${url} was fetched`).toBe(before);
  }

  it('refuse loopback in every spelling, and the coordinator itself, with the same words', async () => {
    const port = new URL(fileBase).port;
    for (const host of ['127.0.0.1', 'localhost', '0.0.0.0', '[::1]', '[::ffff:127.0.0.1]', '2130706433', '0177.0.0.1', '0x7f.1']) {
      await refused(coordinator, `http://${host}:${port}/clip.mp4`);
    }
    await refused(coordinator, `${coordinator.url}/healthz`);
    const s3 = await embeddedS3(coordinator);
    await refused(coordinator, `${s3.origin}/storage/`);
  });

  it("in a lab that allows private addresses, still refuse the embedded S3 server's port, directly or by redirect", async () => {
    // The lab fetches from the loopback file server...
    const before = served;
    expect((await lab.api.submitUrl(`${fileBase}/clip.mp4`)).state).toBe('queued');
    expect(served).toBe(before + 1);
    // ...but never from its own storage server, which checks no signatures.
    const s3 = await embeddedS3(lab);
    await refused(lab, `${s3.origin}/storage/`);
    await refused(lab, `http://localhost:${s3.port}/storage/`);
    const redirected = served;
    const err = await refusal(lab.api.submitUrl(`${fileBase}/to?${encodeURIComponent(`${s3.origin}/storage/`)}`));
    expect(err.message).toBe(UNREACHABLE_SOURCE);
    expect(served).toBe(redirected + 1);
  });
});

describe('slow clients', () => {
  /** Opens a raw connection, writes `head`, trickles a byte a second; resolves with what the server sent once it closes. */
  function trickling(head: string, limitMs: number): Promise<{ text: string; ms: number }> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const socket = connect(Number(new URL(coordinator.url).port), '127.0.0.1');
      let text = '';
      const drip = setInterval(() => socket.writable && socket.write('x'), 1000);
      const give = setTimeout(() => {
        socket.destroy();
        reject(new Error(`still open after ${limitMs} ms: ${JSON.stringify(text)}`));
      }, limitMs);
      socket.setEncoding('utf8').on('data', (d: string) => (text += d));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(drip);
        clearTimeout(give);
        resolve({ text, ms: Date.now() - started });
      });
      socket.write(head);
    });
  }

  it('a request whose headers never end is cut off after HTTP_HEADERS_TIMEOUT_SECONDS', async () => {
    const { text } = await trickling('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 10_000);
    expect(text).toMatch(/^HTTP\/1\.1 408/);
  }, 15_000);

  it('an upload that trickles (1 byte/s) is cut off with 408 in words', async () => {
    const boundary = 'b0undary';
    const head =
      // The Host a browser sends (the allow-list wants the port) and the API client's CSRF header: only the pace is hostile.
      `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:${new URL(coordinator.url).port}\r\nX-Tabgrid-Request: 1\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\n` +
      `Content-Length: 100000000\r\n\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n`;
    const { text } = await trickling(head, 10_000);
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(text).toMatch(/under the minimum of 1000 bytes per second \(UPLOAD_MIN_BYTES_PER_SECOND\)/);
    await sleep(100);
    expect((await coordinator.api.health()).ok).toBe(true);
  }, 15_000);
});
