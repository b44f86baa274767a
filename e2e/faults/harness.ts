/** Shared pieces of the failure scenarios that run real tabs. */
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tabgrid/coordinator/src/db/test-database.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from '../support/coordinator-process.js';
import type { ApiClient, JobView, RenditionName } from '@tabgrid/shared';
import { submitFile, waitForJob } from '../support/api.js';
import { makeClip, probe, type StreamFacts } from '../support/media.js';
import type { ScenarioReport } from '../support/report.js';
import { expectedFinalKeys, storedKeys, withoutDeliverables } from '../support/stored-objects.js';
import { verifyOutputs } from '../support/verify-output.js';

/** 12 s at 640×360 with a 2 s GOP: 3 chunks × 2 rungs = 6 tasks, a few seconds of tab work each. */
export const FAULT_RENDITIONS = '360p,240p';
export const FAULT_EXPECTED = [
  { rendition: '360p', width: 640, height: 360 },
  { rendition: '240p', width: 426, height: 240 },
];

/** Short leases so that expiry-driven recovery fits in a test's minutes. */
export const FAULT_ENV = { LEASE_TTL_SECONDS: '4', DISCONNECT_GRACE_SECONDS: '1', RENDITIONS: FAULT_RENDITIONS };

export async function faultClip(dir: string, seconds = 12): Promise<{ file: string; facts: StreamFacts }> {
  const file = path.join(dir, `clip-${seconds}s.mp4`);
  await makeClip(file, { seconds, width: 640, height: 360, fps: 30, audio: true, gop: 60 });
  return { file, facts: await probe(file) };
}

/** Uploads the clip (the client accepts only the API's 201) and returns the new job's id. */
export async function submit(api: ApiClient, file: string, renditions?: readonly RenditionName[]): Promise<string> {
  return (await submitFile(api, file, renditions ? { renditions } : {})).id;
}

/** Waits until the job satisfies `pred` (polling the API), e.g. "2 tasks done". */
export async function waitUntil(api: ApiClient, id: string, pred: (j: JobView) => boolean, timeoutMs = 120_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await api.getJob(id).catch(() => undefined);
    if (job && pred(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} never reached the expected point; last: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits for the job to finish and checks its outputs and the storage like every scenario must. */
export async function finishAndVerify(opts: {
  api: ApiClient;
  id: string;
  source: StreamFacts;
  dir: string;
  dataDir?: string;
  report: ScenarioReport;
  timeoutMs?: number;
  expected?: typeof FAULT_EXPECTED;
}): Promise<JobView> {
  const expected = opts.expected ?? FAULT_EXPECTED;
  const job = await waitForJob(opts.api, opts.id, { timeoutMs: opts.timeoutMs ?? 180_000 });
  opts.report.observed(`${job.state}${job.error ? ` (${job.error})` : ''}, ${job.progress.done}/${job.progress.total} tasks`);
  await verifyOutputs(job, { baseUrl: opts.api.baseUrl, source: opts.source, expected, dir: opts.dir });
  opts.report.verified(
    `${expected.map((e) => e.rendition).join(', ')}: h264, size, ${opts.source.frames} frames, duration, audio, clean decode`,
  );
  if (opts.dataDir) {
    await expect
      .poll(
        async () =>
          withoutDeliverables(
            (await storedKeys(opts.dataDir!)).filter((k) => k.includes(opts.id)),
            opts.id,
          ),
        { timeout: 20_000 },
      )
      .toEqual(
        expectedFinalKeys(
          opts.id,
          'mp4',
          expected.map((e) => e.rendition),
        ),
      );
    opts.report.verified('no orphan objects in storage');
  }
  return job;
}

export interface FaultFixture {
  /** Set once the suite's beforeAll has run. */
  readonly coordinator: CoordinatorProcess;
  readonly dir: string;
}

/**
 * A coordinator on a fresh database of the real PostgreSQL, plus a scratch
 * folder, for one describe block; stopped, dropped and removed afterwards.
 */
export function coordinatorOnFreshDatabase(name: string, env: Record<string, string>): FaultFixture {
  const fixture = {} as { coordinator: CoordinatorProcess; dir: string; db: TestDatabase };
  beforeAll(async () => {
    fixture.db = await createTestDatabase('tabgrid_faults');
    fixture.coordinator = await startCoordinatorProcess({ name: `fault-${name}`, env: { DATABASE_URL: fixture.db.url, ...env } });
    fixture.dir = await tempDir(name);
  });
  afterAll(async () => {
    await fixture.coordinator?.stop();
    await fixture.db?.drop();
    await removeDir(fixture.coordinator?.dataDir);
    await removeDir(fixture.dir);
  });
  return fixture;
}
