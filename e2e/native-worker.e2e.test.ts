/**
 * `pnpm tabgrid worker --native` end to end, as an operator runs it: a real
 * coordinator (the embedded default), the real CLI as a child process, the
 * standard 10 s 1280×720 clip to the default ladder, every output checked
 * frame-exact with the pipeline's own verifyOutputs. Then what an operator
 * does to it: Ctrl-C while it works (the task in hand is finished and
 * accepted, then it exits), Ctrl-C twice (the task is handed on at once,
 * nobody blamed), and a job shared with a wasm tab in real Chromium (the
 * two encoders' outputs differ, so the coordinator checks the native ones
 * by content; the merge joins both). Per-rung task times of each kind are
 * printed (measured, not asserted).
 */
import path from 'node:path';
import type { JobView, TaskView, WorkerView } from '@tabgrid/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitFile, waitForJob } from './support/api.js';
import { launchChromium, openContributorTabs, tabStatus, watchConsole, type Browser } from './support/browser.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from './support/coordinator-process.js';
import { makeClip, probe, type StreamFacts } from './support/media.js';
import { startNativeWorkerProcess, type NativeWorkerProcess } from './support/native-worker-process.js';
import { verifyOutputs } from './support/verify-output.js';

const EXPECTED = [
  { rendition: '720p', width: 1280, height: 720 },
  { rendition: '480p', width: 854, height: 480 },
  { rendition: '360p', width: 640, height: 360 },
];

let workDir: string;
let clip: string;
let source: StreamFacts;
let coordinator: CoordinatorProcess;
const workers: NativeWorkerProcess[] = [];

beforeAll(async () => {
  workDir = await tempDir('native-worker');
  clip = path.join(workDir, 'clip.mp4');
  await makeClip(clip);
  source = await probe(clip);
  coordinator = await startCoordinatorProcess({ name: 'native-worker' });
});
afterAll(async () => {
  for (const w of workers) await w.kill();
  await coordinator?.stop();
  await removeDir(coordinator?.dataDir);
  await removeDir(workDir);
});

async function nativeWorker(name: string, args: string[]): Promise<NativeWorkerProcess> {
  const w = await startNativeWorkerProcess({ url: coordinator.url, name: `native-worker-${name}`, args: [...args, '--name', name] });
  workers.push(w);
  return w;
}

const connected = (l: { msg: string }) => l.msg.startsWith('connected as ');

/** Worker id → what it said in hello, for every worker the coordinator knows. */
async function workerKinds(): Promise<Map<string, WorkerView>> {
  return new Map((await coordinator.api.workers()).workers.map((w) => [w.id, w]));
}

/** Median seconds from lease to verdict of each rung's accepted attempts, by encoder kind. */
function taskSeconds(tasks: readonly TaskView[], kinds: Map<string, WorkerView>): Record<string, Record<string, number>> {
  const by: Record<string, Record<string, number[]>> = {};
  for (const t of tasks) {
    const a = t.history.find((h) => h.outcome === 'done');
    if (!a?.worker || !a.endedAt) continue;
    const kind = kinds.get(a.worker)?.capabilities?.encoders[0] ?? '?';
    const rungs = by[kind] ?? {};
    by[kind] = rungs;
    rungs[t.rendition] = [...(rungs[t.rendition] ?? []), (Date.parse(a.endedAt) - Date.parse(a.startedAt)) / 1000];
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return Object.fromEntries(
    Object.entries(by).map(([kind, rungs]) => [kind, Object.fromEntries(Object.entries(rungs).map(([r, xs]) => [r, median(xs)]))]),
  );
}

async function runJob(): Promise<{ job: JobView; tasks: TaskView[] }> {
  const created = await submitFile(coordinator.api, clip);
  const job = await waitForJob(coordinator.api, created.id, { timeoutMs: 240_000 });
  expect(job.error).toBeNull();
  await verifyOutputs(job, { baseUrl: coordinator.url, source, expected: EXPECTED, dir: workDir });
  return { job, tasks: await coordinator.api.getTasks(job.id) };
}

describe('tabgrid worker --native', () => {
  it('transcodes a job with native workers only: frame-exact outputs, every task theirs, a clean exit on SIGINT', async () => {
    const w = await nativeWorker('e2e-native', ['--concurrency', '2', '--threads', '1']);
    await w.waitFor(connected);
    await w.waitFor((l) => connected(l) && l.slot === 2);
    const { job, tasks } = await runJob();
    expect(job.progress).toEqual({ done: 9, total: 9 });
    const kinds = await workerKinds();
    const doers = new Set(tasks.map((t) => t.worker));
    for (const id of doers) {
      expect(kinds.get(id!)).toMatchObject({ capabilities: { encoders: ['native-x264'], threads: 1 } });
      expect(kinds.get(id!)?.name).toMatch(/^e2e-native-[12]$/);
    }
    expect(w.lines.filter((l) => l.msg === 'segment accepted').length).toBeGreaterThanOrEqual(9);
    console.log(`[native only] median task seconds by rung: ${JSON.stringify(taskSeconds(tasks, kinds))}`);

    w.signal('SIGINT');
    expect(await w.exited).toBe(0);
    expect(w.lines.at(-1)).toMatchObject({ msg: 'stopped' });
    expect(w.lines.filter((l) => l.level >= 50)).toEqual([]);
    // The coordinator sees both sockets close (1000) and marks the workers gone.
    let still: string[] = [];
    for (let i = 0; i < 100; i++) {
      const after = await workerKinds();
      still = [...doers].filter((id) => after.get(id!)?.connected !== false) as string[];
      if (still.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(still).toEqual([]);
  });

  it('on SIGINT finishes the task in hand (accepted), then exits; twice, hands the task on at once without blame', async () => {
    const created = await submitFile(coordinator.api, clip);
    const patient = await nativeWorker('e2e-drain', ['--threads', '1']);
    const assigned = await patient.waitFor((l) => l.msg.startsWith('assigned job'), 120_000);
    patient.signal('SIGINT');
    expect(await patient.exited).toBe(0);
    // Every rung it had in hand was encoded, uploaded and reported before it left, and nothing more was taken.
    const inHand = patient.lines.filter((l) => l.msg.startsWith('assigned job'));
    expect(inHand).toHaveLength(1);
    const rungs = /chunk (\d+): (.+)$/.exec(assigned.msg)!;
    const reported = patient.lines.filter((l) => / uploaded \d+ bytes/.test(l.msg));
    expect(reported).toHaveLength(rungs[2]!.split(', ').length);
    // The coordinator checks those segments without the worker: each ends accepted. (Anything it was handed
    // in the instant between its last report and its close is handed on without blame.)
    const chunkInHand = Number(rungs[1]);
    const renditionsInHand = rungs[2]!.split(', ');
    let attempts: { chunk: number; rendition: string; outcome: string | null }[] = [];
    for (let i = 0; i < 240; i++) {
      const tasks = await coordinator.api.getTasks(created.id);
      attempts = tasks.flatMap((t) =>
        t.history.filter((h) => h.worker === assigned.worker).map((h) => ({ chunk: t.chunk, rendition: t.rendition, outcome: h.outcome })),
      );
      if (attempts.length > 0 && attempts.every((a) => a.outcome !== null)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const held = attempts.filter((a) => a.chunk === chunkInHand && renditionsInHand.includes(a.rendition));
    expect(held.map((a) => [a.rendition, a.outcome]).sort()).toEqual(renditionsInHand.map((r) => [r, 'done']).sort());
    expect(attempts.filter((a) => !held.includes(a)).every((a) => a.outcome === 'disconnected')).toBe(true);

    const hasty = await nativeWorker('e2e-quit', ['--threads', '1']);
    const second = await hasty.waitFor((l) => l.msg.startsWith('assigned job'), 120_000);
    hasty.signal('SIGINT');
    hasty.signal('SIGTERM');
    expect(await hasty.exited).toBe(0);
    const handedOn = (await coordinator.api.getTasks(created.id)).flatMap((t) => t.history.filter((h) => h.worker === second.worker));
    expect(handedOn.length).toBeGreaterThan(0);
    expect(handedOn.every((h) => h.outcome === 'disconnected')).toBe(true);

    // Another worker finishes the job; nothing the stopped ones did spoiled it.
    const finisher = await nativeWorker('e2e-finisher', ['--threads', '2']);
    const job = await waitForJob(coordinator.api, created.id, { timeoutMs: 240_000 });
    expect(job.error).toBeNull();
    await verifyOutputs(job, { baseUrl: coordinator.url, source, expected: EXPECTED, dir: workDir });
    finisher.signal('SIGTERM');
    expect(await finisher.exited).toBe(0);
  });

  describe('with a wasm tab', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('shares one job: both encoders contribute, outputs frame-exact', async () => {
      const [tab] = await openContributorTabs(browser, coordinator.url, 1);
      const consoleErrors = watchConsole(tab!);
      for (let i = 0; i < 600 && (await tabStatus(tab!))?.connection !== 'connected'; i++) await new Promise((r) => setTimeout(r, 100));
      const w = await nativeWorker('e2e-mixed', ['--threads', '1']);
      await w.waitFor(connected);
      const { tasks } = await runJob();
      const kinds = await workerKinds();
      const byKind = new Map<string, number>();
      for (const t of tasks) {
        const kind = kinds.get(t.worker!)?.capabilities?.encoders[0] ?? '?';
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      }
      expect(byKind.get('native-x264')).toBeGreaterThan(0);
      expect(byKind.get('wasm-x264')).toBeGreaterThan(0);
      expect([...byKind.keys()].sort()).toEqual(['native-x264', 'wasm-x264']);
      console.log(`[mixed] tasks by kind: ${JSON.stringify(Object.fromEntries(byKind))}`);
      console.log(`[mixed] median task seconds by rung: ${JSON.stringify(taskSeconds(tasks, kinds))}`);
      w.signal('SIGTERM');
      expect(await w.exited).toBe(0);
      expect(consoleErrors).toEqual([]);
    });
  });
});
