/**
 * Object storage unavailable mid-job, with the coordinator on the external-S3
 * path (S3_* set, as with MinIO in production): the coordinator stays up,
 * /healthz says storage is down, tabs keep or retry their results, and the
 * job finishes by itself once storage is back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tabgrid/coordinator/src/db/test-database.js';
import { launchChromium, openContributorTabs, type Browser } from '../support/browser.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from '../support/coordinator-process.js';
import { ScenarioReport } from '../support/report.js';
import { standaloneS3, type StandaloneS3 } from '../support/standalone-s3.js';
import { FAULT_ENV, faultClip, finishAndVerify, submit, waitUntil } from './harness.js';

const OUTAGE_SECONDS = 6;

describe('storage unavailable mid-job', () => {
  let db: TestDatabase;
  let s3: StandaloneS3;
  let coordinator: CoordinatorProcess;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('tabgrid_faults');
    s3 = await standaloneS3();
    await s3.start();
    coordinator = await startCoordinatorProcess({ name: 'fault-storage', env: { DATABASE_URL: db.url, ...s3.env, ...FAULT_ENV } });
    browser = await launchChromium();
    dir = await tempDir('storage-outage');
  });
  afterAll(async () => {
    await browser?.close();
    await coordinator?.stop();
    await s3?.stop();
    await db?.drop();
    await removeDir(s3?.dir);
    await removeDir(coordinator?.dataDir);
    await removeDir(dir);
  });

  it(`a ${OUTAGE_SECONDS} s storage outage mid-transcode: the job finishes by itself`, async () => {
    const { file, facts } = await faultClip(dir);
    await openContributorTabs(browser, coordinator.url, 2);
    const report = new ScenarioReport(`S3 storage down for ${OUTAGE_SECONDS} s mid-transcode (external S3 path)`);
    const id = await submit(coordinator.api, file);
    const before = await waitUntil(coordinator.api, id, (j) => j.state === 'transcoding' && j.progress.done >= 1);
    await s3.stop();
    report.injected(`S3 server killed at ${before.progress.done}/${before.progress.total} tasks done`);
    const health = await fetch(`${coordinator.url}/healthz`);
    const body = (await health.json()) as { database: { ok: boolean }; storage: { ok: boolean; error?: string } };
    expect(health.status).toBe(503);
    expect(body).toMatchObject({ database: { ok: true }, storage: { ok: false } });
    report.observed(`/healthz 503: storage down (${body.storage.error}), database up`);
    await sleep(OUTAGE_SECONDS * 1000);
    expect(coordinator.child.exitCode).toBeNull();
    await s3.start();
    report.injected('S3 server started again on the same port and data');
    await finishAndVerify({ api: coordinator.api, id, source: facts, dir, report });
    report.print();
  });
});
