/**
 * Several rungs of a chunk from one decode, in real Chromium with the wasm
 * core: the same clip through the grid twice on the real PostgreSQL, once
 * with a tab that takes one rung at a time (`?maxRungs=1`, the way every
 * task ran before protocol 3) and once with a tab that takes every rung of a
 * chunk in one assignment. The batch tab's claims must really be batches
 * (each chunk's rungs leased together, to one worker, in one statement), its
 * outputs frame-exact, and every segment byte-identical to the one-rung
 * tab's: replicas are compared by what they decode to and segments by hash,
 * so a batch must not change a single byte.
 */
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tabgrid/coordinator/src/db/test-database.js';
import { submitFile, waitForJob } from './support/api.js';
import { launchChromium, watchConsole, type Browser } from './support/browser.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from './support/coordinator-process.js';
import { makeClip, probe, type StreamFacts } from './support/media.js';
import { verifyOutputs } from './support/verify-output.js';

const EXPECTED = [
  { rendition: '720p', width: 1280, height: 720 },
  { rendition: '480p', width: 854, height: 480 },
  { rendition: '360p', width: 640, height: 360 },
];

let dir: string;
let clip: string;
let source: StreamFacts;
let db: TestDatabase;
let sql: postgres.Sql;
let coordinator: CoordinatorProcess;
let browser: Browser;

beforeAll(async () => {
  dir = await tempDir('multirung');
  clip = path.join(dir, 'clip.mp4');
  // Two 4 s chunks × three rungs.
  await makeClip(clip, { seconds: 8, width: 1280, height: 720, fps: 30, audio: true, gop: 60 });
  source = await probe(clip);
  db = await createTestDatabase('tabgrid_multirung');
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
  coordinator = await startCoordinatorProcess({ env: { DATABASE_URL: db.url }, name: 'multirung' });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await coordinator?.stop();
  await sql?.end();
  await db?.drop();
  await removeDir(coordinator?.dataDir);
  await removeDir(dir);
});

interface Segment {
  chunk: number;
  rendition: string;
  sha256: string;
  worker: string;
  started: string;
}

/** One job through one tab opened with `query`; returns its accepted segments, by chunk and rendition. */
async function runJob(query: string): Promise<{ segments: Segment[]; consoleErrors: string[] }> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${coordinator.url}/contribute/${query}`);
    const { id } = await submitFile(coordinator.api, clip);
    const job = await waitForJob(coordinator.api, id, { timeoutMs: 240_000 });
    expect(job.error).toBeNull();
    await verifyOutputs(job, { baseUrl: coordinator.url, source, expected: EXPECTED, dir });
    const segments = await sql<Segment[]>`
      SELECT t.chunk_index AS chunk, t.rendition, t.segment_sha256 AS sha256, a.worker_id AS worker, a.started_at::text AS started
        FROM tasks t JOIN task_attempts a ON a.task_id = t.id AND a.outcome = 'done'
       WHERE t.job_id = ${id}
       ORDER BY t.chunk_index, t.rendition`;
    return { segments: [...segments], consoleErrors };
  } finally {
    await context.close();
  }
}

describe('one decode for every rung of a chunk (ffmpeg.wasm in Chromium)', () => {
  it('leases each chunk’s rungs together and makes every segment byte-identical to one-rung tasks', async () => {
    const single = await runJob('?maxRungs=1');
    const batch = await runJob('');
    expect(single.segments).toHaveLength(6);
    expect(batch.segments).toHaveLength(6);

    // One-rung tab: every rung leased on its own (distinct claim times within a chunk).
    for (const c of [0, 1]) {
      const rungs = single.segments.filter((s) => s.chunk === c);
      expect(new Set(rungs.map((s) => s.started)).size, `chunk ${c}, one rung per claim`).toBe(3);
    }
    // Batch tab: each chunk's three rungs leased in one statement (one now()) to one worker.
    for (const c of [0, 1]) {
      const rungs = batch.segments.filter((s) => s.chunk === c);
      expect(new Set(rungs.map((s) => s.started)).size, `chunk ${c}, one claim for all rungs`).toBe(1);
      expect(new Set(rungs.map((s) => s.worker)).size).toBe(1);
    }

    const key = (s: Segment) => `${s.chunk}/${s.rendition}`;
    expect(Object.fromEntries(batch.segments.map((s) => [key(s), s.sha256]))).toEqual(
      Object.fromEntries(single.segments.map((s) => [key(s), s.sha256])),
    );
    expect(new Set(batch.segments.map((s) => s.sha256)).size).toBe(6);
    expect([...single.consoleErrors, ...batch.consoleErrors]).toEqual([]);
  });
});
