/**
 * `tsx e2e/bench/native-vs-wasm.ts`: per-rung task times of the native
 * worker against a wasm tab on the same chunks. One coordinator, one clip
 * (8 s 1920×1080 30 fps: two chunks, the default 720p/480p/360p ladder),
 * transcoded once per configuration with only that worker connected:
 *
 *   wasm tab, one rung per exec (?maxRungs=1)  | native, 1 thread, one rung per run
 *   native, 2 threads, one rung per run        | wasm tab, every rung from one decode
 *   native, 2 threads, every rung from one decode
 *
 * The split is deterministic, so every configuration gets the very same
 * chunks. Read from the coordinator's log: the encode time each worker
 * reported and lease → accepted per rung. Build first (`pnpm build`); run
 * under the heavy lock. Prints a table and writes
 * e2e/artifacts/native-vs-wasm.json. A probe for the bench, which owns the
 * headline numbers; nothing here is asserted.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { startNativeWorker } from '@tabgrid/native-worker';
import { pino } from 'pino';
import { submitFile, waitForJob } from '../support/api.js';
import { launchChromium } from '../support/browser.js';
import { ARTIFACTS, removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from '../support/coordinator-process.js';

const run = promisify(execFile);

interface LogLine {
  time: number;
  msg: string;
  workerId?: string;
  rendition?: string;
  chunk?: number;
  attempt?: number;
  encodeMs?: number;
}

interface RungTimes {
  /** Encode time the worker reported (one run for every rung of a batch). */
  encodeSeconds: number;
  /** Lease → accepted (download, encode, upload, the coordinator's check). */
  taskSeconds: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const round = (x: number) => Math.round(x * 100) / 100;

async function jobOf(coordinator: CoordinatorProcess, clip: string, workerConnected: () => Promise<void>) {
  await workerConnected();
  const t0 = Date.now();
  const { id } = await submitFile(coordinator.api, clip);
  const job = await waitForJob(coordinator.api, id, { timeoutMs: 900_000 });
  if (job.state !== 'done') throw new Error(`job ended ${job.state}: ${job.error}`);
  return { id, wallSeconds: (Date.now() - t0) / 1000 };
}

/** Per rung, from the coordinator's log: every accepted segment of `jobWorker`'s attempts since `since`. */
async function rungTimes(coordinator: CoordinatorProcess, since: number): Promise<Record<string, RungTimes>> {
  const lines = (await readFile(coordinator.logFile, 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine)
    .filter((l) => l.time >= since);
  const leased = new Map<string, number>();
  const by: Record<string, { encode: number[]; task: number[] }> = {};
  for (const l of lines) {
    const key = `${l.chunk}/${l.rendition}/${l.attempt}`;
    if (l.msg === 'leased task') leased.set(key, l.time);
    if (l.msg === 'segment accepted' && l.rendition && l.encodeMs !== undefined) {
      const r = by[l.rendition] ?? { encode: [], task: [] };
      by[l.rendition] = r;
      r.encode.push(l.encodeMs / 1000);
      const from = leased.get(key);
      if (from !== undefined) r.task.push((l.time - from) / 1000);
    }
  }
  return Object.fromEntries(
    Object.entries(by).map(([rung, r]) => [rung, { encodeSeconds: round(median(r.encode)), taskSeconds: round(median(r.task)) }]),
  );
}

async function main(): Promise<void> {
  const dir = await tempDir('native-vs-wasm');
  const clip = path.join(dir, 'clip.mp4');
  await run('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30', '-f', 'lavfi', '-i', 'sine', '-t', '8'],
    ...['-c:v', 'libx264', '-g', '60', '-c:a', 'aac', clip],
  ]);
  const coordinator = await startCoordinatorProcess({ name: 'native-vs-wasm', env: { LOG_LEVEL: 'info' } });
  const browser = await launchChromium();
  const results: Record<string, { wallSeconds: number; rungs: Record<string, RungTimes> }> = {};
  const connectedWorkers = async () => (await coordinator.api.workers()).workers.filter((w) => w.connected).length;
  const untilConnected = async (n: number) => {
    for (let i = 0; i < 600 && (await connectedWorkers()) !== n; i++) await new Promise((r) => setTimeout(r, 100));
  };
  try {
    const wasm = async (name: string, query: string) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${coordinator.url}/contribute/${query}`);
      const since = Date.now();
      const { wallSeconds } = await jobOf(coordinator, clip, () => untilConnected(1));
      results[name] = { wallSeconds: round(wallSeconds), rungs: await rungTimes(coordinator, since) };
      await context.close();
      await untilConnected(0);
    };
    const native = async (name: string, threads: number, maxRungs: number) => {
      const worker = await startNativeWorker({
        url: coordinator.url,
        concurrency: 1,
        threads,
        maxRungs,
        logger: pino({ level: 'silent' }),
      });
      const since = Date.now();
      const { wallSeconds } = await jobOf(coordinator, clip, () => untilConnected(1));
      results[name] = { wallSeconds: round(wallSeconds), rungs: await rungTimes(coordinator, since) };
      await worker?.quit('phase over');
      await untilConnected(0);
    };
    await wasm('wasm tab, one rung per exec', '?maxRungs=1');
    await native('native 1 thread, one rung per run', 1, 1);
    await native('native 2 threads, one rung per run', 2, 1);
    await wasm('wasm tab, all rungs from one decode', '');
    await native('native 2 threads, all rungs from one decode', 2, 8);
  } finally {
    await browser.close();
    await coordinator.stop();
    await removeDir(coordinator.dataDir);
    await removeDir(dir);
  }
  const rungs = ['720p', '480p', '360p'];
  console.log(`| configuration | wall s | ${rungs.map((r) => `${r} encode s / task s`).join(' | ')} |`);
  console.log(`| --- | --- | ${rungs.map(() => '---').join(' | ')} |`);
  for (const [name, r] of Object.entries(results)) {
    const cells = rungs.map((rung) => (r.rungs[rung] ? `${r.rungs[rung].encodeSeconds} / ${r.rungs[rung].taskSeconds}` : '–'));
    console.log(`| ${name} | ${r.wallSeconds} | ${cells.join(' | ')} |`);
  }
  await mkdir(ARTIFACTS, { recursive: true });
  await writeFile(path.join(ARTIFACTS, 'native-vs-wasm.json'), JSON.stringify({ at: new Date().toISOString(), results }, null, 2));
}

await main();
