#!/usr/bin/env node
/**
 * Real-browser check of the built contributor page against a fake coordinator.
 *
 *   pnpm --filter @tabgrid/web-worker-client build
 *   node web-worker-client/scripts/browser-check.mjs [--tasks 6] [--no-mt]
 *
 * Serves dist/ at /contribute/, a 4 s 1280x720 30 fps H.264 chunk made by
 * native ffmpeg, a PUT sink for segments, and a WebSocket at /ws/v1 that
 * speaks protocol v1. Drives Chromium through: steady 480p tasks (timed),
 * a 90° rotation, busy, revoke mid-transcode then a new task, a dropped
 * connection, a drop mid-task (hello with resume), a `result retry`, closing
 * the tab mid-task (1001, no fail), the stall watchdog, and (unless --no-mt) core-mt with
 * -threads 2 behind COOP/COEP. Every segment is checked with ffprobe.
 * Exits non-zero on any failed check. Needs: ffmpeg, ffprobe, /usr/bin/chromium,
 * and playwright-core + ws from coordinator/node_modules.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist');
const require = createRequire(path.join(here, '..', '..', 'coordinator', 'package.json'));
const { chromium } = require('playwright-core');
const { WebSocketServer } = require('ws');

const argv = process.argv.slice(2);
const TASKS = Number(argv[argv.indexOf('--tasks') + 1]) || 6;
const MT = !argv.includes('--no-mt');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tabgrid-check-'));
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
const run = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' });

// ---- media --------------------------------------------------------------
const chunkPath = path.join(tmp, 'chunk.mkv');
run('ffmpeg', [
  '-v',
  'error',
  '-y',
  '-f',
  'lavfi',
  '-i',
  'testsrc2=size=1280x720:rate=30',
  '-t',
  '4',
  '-c:v',
  'libx264',
  '-g',
  '60',
  chunkPath,
]);
const chunk = fs.readFileSync(chunkPath);

function probe(file) {
  const r = run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-count_frames',
    '-show_entries',
    'stream=codec_name,profile,width,height,nb_read_frames,pix_fmt,sample_aspect_ratio:format=start_time,duration',
    '-of',
    'json',
    file,
  ]);
  const j = JSON.parse(r.stdout);
  const decode = run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
  return {
    ...j.streams[0],
    start_time: Number(j.format.start_time),
    duration: Number(j.format.duration),
    decodeErrors: decode.stderr.trim(),
  };
}

// ---- server + fake coordinator -----------------------------------------
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

function startServer({ coi }) {
  const uploads = new Map();
  const fromTab = [];
  const closes = [];
  let socket = null;
  const waiters = new Set();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const headers = coi
      ? {
          'cross-origin-opener-policy': 'same-origin',
          'cross-origin-embedder-policy': 'require-corp',
          'cross-origin-resource-policy': 'same-origin',
        }
      : {};
    if (req.method === 'PUT' && url.pathname.startsWith('/storage/')) {
      const parts = [];
      req.on('data', (d) => parts.push(d));
      req.on('end', () => {
        uploads.set(url.pathname, { body: Buffer.concat(parts), contentType: req.headers['content-type'] });
        res.writeHead(200, headers).end();
      });
      return;
    }
    if (url.pathname === '/storage/chunk.mkv')
      return void res.writeHead(200, { ...headers, 'content-type': 'video/x-matroska' }).end(chunk);
    if (!url.pathname.startsWith('/contribute/')) return void res.writeHead(404, headers).end();
    let file = path.join(dist, url.pathname.slice('/contribute/'.length));
    if (!file.startsWith(dist) || !fs.existsSync(file)) return void res.writeHead(404, headers).end();
    if (fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    res.writeHead(200, { ...headers, 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, sock, head) => {
    if (new URL(req.url, 'http://x').pathname !== '/ws/v1') return sock.destroy();
    wss.handleUpgrade(req, sock, head, (ws) => {
      socket = ws;
      ws.on('close', (code) => closes.push({ code, at: Date.now() }));
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data));
        msg.at = Date.now();
        fromTab.push(msg);
        if (msg.type === 'hello')
          send({
            type: 'welcome',
            id: `w${fromTab.length}`,
            replyTo: msg.id,
            protocol: 1,
            workerId: msg.workerId,
            leaseTtlSeconds: 30,
            heartbeatIntervalSeconds: 1,
          });
        for (const w of waiters) w();
      });
    });
  });
  const send = (msg) => socket.send(JSON.stringify(msg));
  const waitFor = (pred, ms = 60_000, what = 'message') =>
    new Promise((resolve, reject) => {
      const test = () => {
        const m = fromTab.find(pred);
        if (!m) return;
        waiters.delete(test);
        clearTimeout(timer);
        resolve(m);
      };
      const timer = setTimeout(() => {
        waiters.delete(test);
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      waiters.add(test);
      test();
    });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      resolve({
        origin,
        uploads,
        fromTab,
        closes,
        send,
        waitFor,
        dropSocket: () => socket.terminate(),
        close: () => {
          wss.close();
          server.close();
        },
      });
    }),
  );
}

const params = (over = {}) => ({
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
  ...over,
});
let leaseSeq = 0;
function assign(srv, p = params()) {
  const n = ++leaseSeq;
  const msg = {
    type: 'assign',
    id: `a${n}`,
    leaseId: `lease-${n}`,
    token: `token-${n}`,
    attempt: 1,
    jobId: `job${String(n).padStart(5, '0')}-abcdef`,
    chunk: n,
    input: { url: `${srv.origin}/storage/chunk.mkv`, size: chunk.length },
    output: { url: `${srv.origin}/storage/seg-${n}.mp4?X-Amz-Signature=fake`, contentType: 'video/mp4' },
    params: p,
  };
  srv.send(msg);
  return { ...msg, sentAt: Date.now() };
}

/** Waits for complete, checks the upload against it and with ffprobe, answers with an accepted result. */
async function completeAndVerify(srv, a, label) {
  const c = await srv.waitFor((m) => (m.type === 'complete' || m.type === 'fail') && m.leaseId === a.leaseId, 120_000, `${label} complete`);
  if (c.type === 'fail') return check(false, `${label}: tab failed: ${c.reason}`);
  const up = srv.uploads.get(`/storage/seg-${a.chunk}.mp4`);
  const file = path.join(tmp, `seg-${a.chunk}.mp4`);
  fs.writeFileSync(file, up.body);
  const pr = probe(file);
  const sha = createHash('sha256').update(up.body).digest('hex');
  check(
    up.contentType === 'video/mp4' && up.body.length === c.size && sha === c.sha256,
    `${label}: PUT video/mp4, size and sha256 match complete`,
  );
  const ok =
    pr.codec_name === 'h264' &&
    pr.width === a.params.width &&
    pr.height === a.params.height &&
    Number(pr.nb_read_frames) === 120 &&
    pr.start_time === 0 &&
    pr.decodeErrors === '';
  check(
    ok,
    `${label}: ffprobe h264 ${pr.profile} ${pr.width}x${pr.height} ${pr.nb_read_frames} frames start ${pr.start_time} decode ${pr.decodeErrors || 'clean'}`,
  );
  const beats = srv.fromTab.filter((m) => m.type === 'heartbeat' && m.leaseId === a.leaseId);
  const progress = beats.map((b) => b.progress);
  check(
    beats.length > 0 && beats[0].stage === 'downloading' && progress.every((p, i) => i === 0 || p >= progress[i - 1]),
    `${label}: ${beats.length} heartbeats, first 'downloading', progress monotonic`,
  );
  srv.send({ type: 'result', id: `r${a.chunk}`, replyTo: c.id, leaseId: a.leaseId, accepted: true });
  return { encodeMs: c.encodeMs, wallMs: c.at - a.sentAt };
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

async function openPage(srv, query = '') {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  const t0 = Date.now();
  await page.goto(`${srv.origin}/contribute/${query}`);
  const hello = await srv.waitFor((m) => m.type === 'hello', 120_000, 'hello');
  await page.waitForFunction(() => window.__tabgrid.status().connection === 'connected');
  return { page, errors, hello, readyMs: Date.now() - t0 };
}

const summary = {};
try {
  // ---- single-thread core: the default -----------------------------------
  const srv = await startServer({ coi: false });
  const { page, errors, hello, readyMs } = await openPage(srv);
  summary.loadToConnectedMs = readyMs;
  check(
    hello.protocol === 1 && /^[A-Za-z0-9_-]{8,64}$/.test(hello.workerId) && hello.capabilities.threads === 1,
    `hello: protocol 1, workerId ${hello.workerId}, ${JSON.stringify(hello.capabilities.encoders)}`,
  );
  const timings = [];
  for (let i = 0; i < TASKS; i++) timings.push(await completeAndVerify(srv, assign(srv), `task ${i + 1}`));
  summary.singleThread = timings;
  await completeAndVerify(srv, assign(srv, params({ width: 480, height: 854, rotation: 90 })), 'rotation 90');

  const a = assign(srv);
  const b = assign(srv);
  const busy = await srv.waitFor((m) => m.type === 'fail' && m.leaseId === b.leaseId, 10_000, 'busy fail');
  check(busy.reason === 'busy' && busy.token === b.token, 'second assign while busy → fail "busy"');
  await completeAndVerify(srv, a, 'task kept while busy');

  const r = assign(srv);
  await srv.waitFor(
    (m) => m.type === 'heartbeat' && m.leaseId === r.leaseId && m.stage === 'transcoding' && (m.frames ?? 0) >= 10,
    30_000,
    'transcoding heartbeat',
  );
  srv.send({ type: 'revoke', id: 'rv1', leaseId: r.leaseId, reason: 'test revoke' });
  await new Promise((res) => setTimeout(res, 3000));
  const after = srv.fromTab.filter((m) => m.leaseId === r.leaseId && m.at > Date.now() - 2500);
  check(
    after.length === 0 && !srv.uploads.has(`/storage/seg-${r.chunk}.mp4`),
    'revoke mid-transcode: no more heartbeats, no upload, no complete/fail',
  );
  summary.afterRevoke = await completeAndVerify(srv, assign(srv), 'task after revoke (reloaded ffmpeg)');

  srv.dropSocket();
  const hello2 = await srv.waitFor((m) => m.type === 'hello' && m !== hello, 30_000, 'hello after drop');
  check(hello2.workerId === hello.workerId, 'reconnects after a dropped socket with the same workerId');
  await page.waitForFunction(() => window.__tabgrid.status().connection === 'connected');

  // ---- resilience: drop mid-task → hello with resume; result retry → same complete again -----
  const d = assign(srv);
  await srv.waitFor(
    (m) => m.type === 'heartbeat' && m.leaseId === d.leaseId && m.stage === 'transcoding',
    30_000,
    'transcoding before the drop',
  );
  const hellosBefore = srv.fromTab.filter((m) => m.type === 'hello').length;
  srv.dropSocket();
  const hello3 = await srv.waitFor(
    (m) => m.type === 'hello' && srv.fromTab.filter((x) => x.type === 'hello').indexOf(m) >= hellosBefore,
    30_000,
    'hello after a mid-task drop',
  );
  check(
    hello3.resume?.leaseId === d.leaseId && hello3.resume?.token === d.token,
    `hello after a mid-task drop carries resume ${JSON.stringify(hello3.resume)}`,
  );
  const dc = await srv.waitFor(
    (m) => (m.type === 'complete' || m.type === 'fail') && m.leaseId === d.leaseId,
    60_000,
    'complete after the drop',
  );
  check(dc.type === 'complete', `the task went on through the drop and completed (${dc.type})`);
  srv.send({
    type: 'result',
    id: 'retry1',
    replyTo: dc.id,
    leaseId: d.leaseId,
    accepted: false,
    retry: true,
    reason: 'storage down (test)',
  });
  const again = await srv.waitFor(
    (m) => m.type === 'complete' && m.leaseId === d.leaseId && m.id !== dc.id,
    10_000,
    'the same complete again',
  );
  check(
    again.size === dc.size && again.sha256 === dc.sha256 && again.token === dc.token && again.at - dc.at >= 2000,
    `result retry → the same complete again after ${again.at - dc.at} ms`,
  );
  srv.send({ type: 'result', id: 'retry2', replyTo: again.id, leaseId: d.leaseId, accepted: true });
  await page.waitForFunction(() => window.__tabgrid.status().currentLease === null);

  const status = await page.evaluate(() => window.__tabgrid.status());
  const dom = await page.evaluate(() =>
    Object.fromEntries(
      ['connection-state', 'tasks-done', 'failures', 'current-task'].map((t) => [
        t,
        document.querySelector(`[data-testid="${t}"]`).textContent.trim().replace(/\s+/g, ' '),
      ]),
    ),
  );
  const expectedDone = TASKS + 4; // + rotation, the task kept while busy, the task after revoke, the task through the drop
  check(
    status.tasksDone === expectedDone && status.failures === 0 && status.currentLease === null && status.encoder.state === 'loaded',
    `status(): ${JSON.stringify(status)}`,
  );
  check(dom['tasks-done'] === String(expectedDone) && dom['connection-state'] === 'connected', `DOM: ${JSON.stringify(dom)}`);
  check(errors.length === 0, `no console errors in normal operation (${errors.length}: ${errors.join(' | ')})`);

  // ---- closing the tab mid-task: no fail; the browser closes the socket with 1001 ----
  const c = assign(srv);
  await srv.waitFor(
    (m) => m.type === 'heartbeat' && m.leaseId === c.leaseId && m.stage === 'transcoding',
    30_000,
    'transcoding before close',
  );
  await page.close();
  await new Promise((res) => setTimeout(res, 1000));
  const closeCode = srv.closes.at(-1)?.code;
  check(
    closeCode === 1001 && !srv.fromTab.some((m) => m.type === 'fail' && m.leaseId === c.leaseId),
    `closed tab: socket closed with ${closeCode}, no fail sent`,
  );

  // ---- stall watchdog ----------------------------------------------------
  const st = await openPage(srv, '?stallSeconds=0.2');
  const sa = assign(srv);
  const sf = await srv.waitFor((m) => (m.type === 'fail' || m.type === 'complete') && m.leaseId === sa.leaseId, 30_000, 'stall fail');
  check(sf.type === 'fail' && /stalled/.test(sf.reason ?? ''), `stall watchdog: fail "${(sf.reason ?? '').slice(0, 90)}"`);
  await st.page.waitForFunction(() => window.__tabgrid.status().encoder.state === 'loaded', null, { timeout: 30_000 });
  check(true, 'ffmpeg reloaded after the stall');
  await st.page.close();
  srv.close();

  // ---- multi-thread core, -threads 2, behind COOP/COEP --------------------
  if (MT) {
    const mt = await startServer({ coi: true });
    const m = await openPage(mt, '?threads=2');
    check(m.hello.capabilities.wasmMultiThread === true && m.hello.capabilities.threads === 2, 'core-mt: hello reports 2 threads');
    const mtTimings = [];
    for (let i = 0; i < Math.min(TASKS, 4); i++) mtTimings.push(await completeAndVerify(mt, assign(mt), `core-mt task ${i + 1}`));
    summary.multiThread2 = mtTimings;
    check(m.errors.length === 0, `core-mt: no console errors (${m.errors.join(' | ')})`);
    mt.close();
  }
} catch (e) {
  check(false, `aborted: ${e instanceof Error ? e.stack : String(e)}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary, null, 1));
fs.rmSync(tmp, { recursive: true, force: true });
console.log(failures.length === 0 ? 'ALL CHECKS PASSED' : `${failures.length} CHECK(S) FAILED`);
process.exit(failures.length === 0 ? 0 : 1);
