#!/usr/bin/env node
/**
 * The contributor page against a REAL coordinator that is killed with SIGKILL
 * while the tab transcodes, then started again on the same DATA_DIR and port.
 * The tab must keep its task, reconnect, say hello with `resume`, have the
 * coordinator log "worker reconnected and resumed its lease" for that lease,
 * and finish; the job must be done with every task accepted once and the
 * interrupted task finished by the same attempt.
 *
 *   pnpm --filter @tabgrid/web-worker-client build
 *   node web-worker-client/scripts/restart-check.mjs [--shots DIR]
 *
 * --shots DIR also saves screenshots of the page at 1280×800 and 360×740
 * (while working, while the coordinator is down, and when done).
 * Needs ffmpeg, /usr/bin/chromium, playwright-core from coordinator/node_modules.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const require = createRequire(path.join(repo, 'coordinator', 'package.json'));
const { chromium } = require('playwright-core');

const argv = process.argv.slice(2);
const shots = argv.includes('--shots') ? argv[argv.indexOf('--shots') + 1] : null;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tabgrid-restart-'));
const dataDir = path.join(tmp, 'data');
const logFile = path.join(tmp, 'coordinator.log');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port: p } = s.address();
    s.close(() => resolve(p));
  });
});
const url = `http://127.0.0.1:${port}`;

const clip = path.join(tmp, 'clip.mp4');
spawnSync('ffmpeg', [
  '-v',
  'error',
  '-y',
  '-f',
  'lavfi',
  '-i',
  'testsrc2=size=1280x720:rate=30',
  '-f',
  'lavfi',
  '-i',
  'sine',
  '-t',
  '12',
  '-c:v',
  'libx264',
  '-g',
  '60',
  '-c:a',
  'aac',
  '-shortest',
  clip,
]);

let coordinator;
async function startCoordinator() {
  const out = fs.openSync(logFile, 'a');
  coordinator = spawn(process.execPath, ['--import', 'tsx', 'coordinator/src/main.ts'], {
    cwd: repo,
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info' },
    stdio: ['ignore', out, out],
  });
  const t0 = Date.now();
  while (
    !(await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() - t0 > 60_000) throw new Error(`coordinator did not start; see ${logFile}`);
    await sleep(100);
  }
  return Date.now() - t0;
}
const logLines = () =>
  fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return { msg: l };
      }
    });

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
const summary = {};
try {
  summary.firstStartMs = await startCoordinator();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}/contribute/?autostart=1`);
  await page.waitForFunction(() => window.__tabgrid.status().connection === 'connected', null, { timeout: 120_000 });
  const status = () => page.evaluate(() => window.__tabgrid.status());

  const submit = spawn('pnpm', ['tabgrid', 'submit', clip, '--wait', '--url', url], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let submitOut = '';
  submit.stdout.on('data', (d) => (submitOut += d));
  submit.stderr.on('data', (d) => (submitOut += d));
  const submitExit = new Promise((resolve) => submit.once('exit', (code) => resolve(code)));

  // Kill in the middle of a transcode, after at least one task was accepted (so speed and counts show).
  let victim;
  for (const t0 = Date.now(); Date.now() - t0 < 180_000; await sleep(40)) {
    const s = await status();
    if (s.tasksDone >= 1 && s.currentLease?.stage === 'transcoding' && (s.currentLease.frames ?? 0) >= 20) {
      victim = s.currentLease;
      break;
    }
  }
  if (!victim) throw new Error('the tab never got to transcoding');
  if (shots) await page.screenshot({ path: path.join(shots, 'desktop-working.png'), fullPage: true });
  coordinator.kill('SIGKILL');
  const killedAt = Date.now();
  const jobId = victim.jobId;
  console.log(`killed the coordinator while the tab was at frame ${victim.frames}/${victim.totalFrames} of lease ${victim.leaseId}`);
  await page.waitForFunction(() => window.__tabgrid.status().connection === 'reconnecting', null, { timeout: 10_000 });
  await sleep(2500);
  const down = await status();
  check(
    down.currentLease?.leaseId === victim.leaseId,
    `while the coordinator is down the tab keeps lease ${victim.leaseId} (now ${down.currentLease?.stage}, ${Math.round((down.currentLease?.progress ?? 0) * 100)} %)`,
  );
  if (shots) await page.screenshot({ path: path.join(shots, 'desktop-coordinator-down.png'), fullPage: true });
  summary.restartMs = await startCoordinator();
  await page.waitForFunction(() => window.__tabgrid.status().connection === 'connected', null, { timeout: 60_000 });
  summary.killToReconnectedMs = Date.now() - killedAt;
  await sleep(500);
  const resumed = logLines().filter((l) => l.msg === 'worker reconnected and resumed its lease');
  check(
    resumed.some((l) => l.leaseId === victim.leaseId),
    `coordinator log: "worker reconnected and resumed its lease" ${JSON.stringify(resumed.map((l) => l.leaseId))}`,
  );

  // `submit --wait` polls the API: see whether it outlived the restart, and follow the job ourselves either way.
  let job;
  for (const t0 = Date.now(); Date.now() - t0 < 240_000; await sleep(500)) {
    job = await fetch(`${url}/api/jobs/${jobId}`).then((r) => r.json());
    if (['done', 'failed', 'canceled'].includes(job.state)) break;
  }
  check(
    job.state === 'done',
    `job ${jobId.slice(0, 8)}: ${job.state}, ${job.progress.done}/${job.progress.total} tasks, outputs ${job.outputs.map((o) => o.rendition).join(',')}`,
  );
  const tasks = await fetch(`${url}/api/jobs/${jobId}/tasks`).then((r) => r.json());
  const onceEach = tasks.every((t) => t.history.filter((h) => h.outcome === 'done').length === 1);
  const interrupted = tasks.find(
    (t) => t.history.some((h) => h.startedAt && h.worker) && `${t.chunk}` === `${victim.chunk}` && t.rendition === victim.rendition,
  );
  check(onceEach, 'every task accepted exactly once');
  check(
    interrupted?.attempts === 1 && interrupted.history.length === 1 && interrupted.history[0].outcome === 'done',
    `the interrupted task (chunk ${victim.chunk} ${victim.rendition}) finished in its first attempt: ${JSON.stringify(interrupted?.history.map((h) => h.outcome))}`,
  );
  const final = await status();
  check(
    final.failures === 0 && final.currentLease === null,
    `tab: ${final.tasksDone} done, ${final.failures} failures, speed ${JSON.stringify(final.speed)}`,
  );
  summary.tab = { tasksDone: final.tasksDone, failures: final.failures, encodeMsTotal: final.encodeMsTotal, speed: final.speed };
  const submitCode = await Promise.race([submitExit, sleep(5000).then(() => 'still running')]);
  summary.submitWait = { exit: submitCode, lastLines: submitOut.trim().split('\n').slice(-3) };
  if (submitCode === 'still running') submit.kill();
  const unexpected = errors.filter((e) => !/ERR_CONNECTION_REFUSED|WebSocket connection to .* failed/.test(e));
  check(
    unexpected.length === 0,
    `no console errors besides the browser's own connection-refused lines while the coordinator was down (${errors.length} of those; others: ${unexpected.join(' | ')})`,
  );
  if (shots) {
    await page.screenshot({ path: path.join(shots, 'desktop-done.png'), fullPage: true });
    await page.setViewportSize({ width: 360, height: 740 });
    await page.screenshot({ path: path.join(shots, 'phone-done.png'), fullPage: true });
  }
} catch (e) {
  check(false, `aborted: ${e instanceof Error ? e.stack : String(e)}`);
} finally {
  await browser.close();
  coordinator?.kill('SIGTERM');
  await sleep(1000);
}
console.log(JSON.stringify(summary, null, 1));
console.log(`coordinator log: ${logFile}`);
console.log(failures.length === 0 ? 'ALL CHECKS PASSED' : `${failures.length} CHECK(S) FAILED`);
process.exit(failures.length === 0 ? 0 : 1);
