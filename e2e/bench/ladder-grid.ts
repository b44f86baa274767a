/**
 * `tsx e2e/bench/ladder-grid.ts [tabs]`: one run of the default ladder
 * (720p/480p/360p) on a generated 60 s 1920x1080 30 fps clip through the
 * real coordinator and real Chromium tabs (default 2), for measuring how a
 * tab spends its time. Build first (`pnpm build`); run under the heavy lock.
 *
 * Reads the coordinator's own log (LOG_LEVEL=info): when each rung was
 * leased and accepted, the encode time the tab reported, the content check
 * time, and the pipeline steps. Prints a summary and writes
 * e2e/artifacts/ladder-grid.json. Not `pnpm bench` (which owns the
 * headline numbers): a probe of the data plane's per-task costs.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { submitFile, waitForJob } from '../support/api.js';
import { launchChromium, openContributorTabs } from '../support/browser.js';
import { ARTIFACTS, removeDir, startCoordinatorProcess, tempDir } from '../support/coordinator-process.js';

const run = promisify(execFile);

interface LogLine {
  time: number;
  msg: string;
  workerId?: string;
  rendition?: string;
  chunk?: number;
  attempt?: number;
  encodeMs?: number;
  contentMs?: number;
  step?: string;
  ms?: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const tabs = Number(process.argv[2] ?? '2');
  const dir = await tempDir('ladder');
  const clip = path.join(dir, 'clip.mp4');
  // The clip the issue measures with, exactly.
  await run('ffmpeg', [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1920x1080:rate=30',
    '-f',
    'lavfi',
    '-i',
    'sine',
    '-t',
    '60',
    '-c:v',
    'libx264',
    '-g',
    '60',
    '-c:a',
    'aac',
    clip,
  ]);
  const coordinator = await startCoordinatorProcess({ name: `ladder-${tabs}tabs`, env: { LOG_LEVEL: 'info' } });
  const browser = await launchChromium();
  try {
    await openContributorTabs(browser, coordinator.url, tabs);
    // The tabs load the wasm core first: the wall time measures the job, not page load.
    await new Promise((r) => setTimeout(r, 5000));
    const started = Date.now();
    const { id } = await submitFile(coordinator.api, clip);
    const job = await waitForJob(coordinator.api, id, { timeoutMs: 900_000 });
    if (job.state !== 'done') throw new Error(`job ended ${job.state}: ${job.error}`);
    const wallSeconds = (Date.now() - started) / 1000;
    await coordinator.stop();
    const lines = (await readFile(coordinator.logFile, 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
    const leased = new Map<string, number>();
    const perRung: Record<string, { taskSeconds: number[]; encodeSeconds: number[]; checkSeconds: number[] }> = {};
    let firstLease = Number.POSITIVE_INFINITY;
    let lastAccept = 0;
    /** Encodes by worker: the rungs of one batch report the same encodeMs, so one entry per batch. */
    const encodes = new Map<string, number>();
    for (const l of lines) {
      const key = `${l.chunk}/${l.rendition}/${l.attempt}`;
      if (l.msg === 'leased task') {
        leased.set(key, l.time);
        firstLease = Math.min(firstLease, l.time);
      }
      if (l.msg === 'segment accepted' && l.rendition) {
        perRung[l.rendition] ??= { taskSeconds: [], encodeSeconds: [], checkSeconds: [] };
        const r = perRung[l.rendition]!;
        const from = leased.get(key);
        if (from !== undefined) r.taskSeconds.push((l.time - from) / 1000);
        if (l.encodeMs !== undefined) {
          r.encodeSeconds.push(l.encodeMs / 1000);
          encodes.set(`${l.workerId}/${l.chunk}/${l.encodeMs}`, l.encodeMs);
        }
        if (l.contentMs !== undefined) r.checkSeconds.push(l.contentMs / 1000);
        lastAccept = Math.max(lastAccept, l.time);
      }
    }
    const steps = Object.fromEntries(lines.filter((l) => l.msg === 'step finished').map((l) => [l.step, round((l.ms ?? 0) / 1000)]));
    const result = {
      at: new Date().toISOString(),
      tabs,
      wallSeconds: round(wallSeconds, 1),
      beforeFirstLeaseSeconds: round((firstLease - started) / 1000),
      afterLastAcceptSeconds: round((started + wallSeconds * 1000 - lastAccept) / 1000),
      steps,
      batches: encodes.size,
      /** Share of the wall time the tabs' encoders were busy (sum of each batch's encode time ÷ wall × tabs). */
      encoderBusy: round([...encodes.values()].reduce((a, b) => a + b, 0) / 1000 / (wallSeconds * tabs)),
      perRung: Object.fromEntries(
        Object.entries(perRung).map(([name, r]) => [
          name,
          {
            tasks: r.taskSeconds.length,
            medianLeaseToAcceptSeconds: round(median(r.taskSeconds)),
            medianEncodeSeconds: round(median(r.encodeSeconds)),
            medianCheckSeconds: round(median(r.checkSeconds)),
          },
        ]),
      ),
    };
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(path.join(ARTIFACTS, 'ladder-grid.json'), JSON.stringify(result, null, 2));
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await browser.close();
    await coordinator.stop();
    await removeDir(coordinator.dataDir);
    await removeDir(dir);
  }
}

await main();
