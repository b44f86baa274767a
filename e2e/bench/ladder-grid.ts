/**
 * `tsx e2e/bench/ladder-grid.ts [tabs]`: one run of the default ladder
 * (720p/480p/360p) on a generated 60 s 1920x1080 30 fps clip through the
 * real coordinator and real Chromium tabs (default 2), for measuring how a
 * tab spends its time. Build first (`pnpm build`); run under the heavy lock.
 *
 * Reads the coordinator's own log (LOG_LEVEL=info): when each rung was
 * leased and accepted, the encode time the tab reported, the content check
 * time, and the pipeline steps; and from /proc the CPU seconds the tabs and
 * the coordinator used, which other load on the machine barely changes
 * (wall times on a shared 2-core machine do). Prints a summary and writes
 * e2e/artifacts/ladder-grid.json. Not `pnpm bench` (which owns the
 * headline numbers): a probe of the data plane's per-task costs.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
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

/** pid → [ppid, CPU seconds of the process itself, of its waited-for children] from /proc (Linux; CLK_TCK 100). */
async function processTable(): Promise<Map<number, [number, number, number]>> {
  const table = new Map<number, [number, number, number]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // Fields after the parenthesised command: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest.length < 15) continue;
    const n = (i: number) => Number(rest[i - 3]);
    table.set(Number(name), [n(4), (n(14) + n(15)) / 100, (n(16) + n(17)) / 100]);
  }
  return table;
}

/**
 * CPU seconds used so far by `root` and every live descendant (the tabs:
 * Chromium's renderers and their wasm workers), plus what `root`'s
 * waited-for children used (the coordinator's ffmpeg runs). Robust to other
 * work on the machine, unlike wall time.
 */
async function cpuOfTree(root: number): Promise<number> {
  const table = await processTable();
  const pids = [root];
  let total = table.get(root)?.[2] ?? 0;
  while (pids.length > 0) {
    const pid = pids.pop()!;
    total += table.get(pid)?.[1] ?? 0;
    for (const [child, [ppid]] of table) if (ppid === pid) pids.push(child);
  }
  return total;
}

/** Live descendants of `root` (not `root` itself). */
async function descendants(root: number): Promise<number[]> {
  const table = await processTable();
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    for (const [child, [ppid]] of table) {
      if (ppid !== pid) continue;
      out.push(child);
      todo.push(child);
    }
  }
  return out;
}

/** Samples the resident memory of Chromium's renderers (one per tab, wasm worker included) every 2 s; stop() → the peak, MiB. */
function sampleRendererMemory(root: number): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const pid of await descendants(root)) {
        const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (!cmd.includes('--type=renderer')) continue;
        const rss = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1];
        if (rss) peak = Math.max(peak, Number(rss) / 1024);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return Math.round(peak);
    },
  };
}

/** Our Chromium: the child of this process that playwright started. */
async function chromiumPid(): Promise<number> {
  for (const [pid, [ppid]] of await processTable()) {
    if (ppid !== process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('chromium')) return pid;
  }
  throw new Error('no Chromium child process found');
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
    const tabsRoot = await chromiumPid();
    const coordinatorPid = coordinator.child.pid!;
    const cpuBefore = { tabs: await cpuOfTree(tabsRoot), coordinator: await cpuOfTree(coordinatorPid) };
    const memory = sampleRendererMemory(tabsRoot);
    const started = Date.now();
    const { id } = await submitFile(coordinator.api, clip);
    const job = await waitForJob(coordinator.api, id, { timeoutMs: 900_000 });
    if (job.state !== 'done') throw new Error(`job ended ${job.state}: ${job.error}`);
    const wallSeconds = (Date.now() - started) / 1000;
    const peakTabMiB = await memory.stop();
    const cpu = {
      tabs: round((await cpuOfTree(tabsRoot)) - cpuBefore.tabs, 1),
      coordinator: round((await cpuOfTree(coordinatorPid)) - cpuBefore.coordinator, 1),
    };
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
      /** CPU seconds the tabs (all of Chromium) and the coordinator (with its ffmpeg runs) used for the job. */
      cpuSeconds: cpu,
      /** The largest resident size any tab's renderer reached (its wasm worker and the core's heap included). */
      peakTabMiB,
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
