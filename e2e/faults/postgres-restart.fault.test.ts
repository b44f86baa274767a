/**
 * PostgreSQL stopped and started mid-job, on a private instance this test
 * creates itself (initdb into a temporary folder, its own port), so no other
 * test loses its database. The coordinator stays up, /healthz says the
 * database is down, and the job resumes by itself when it is back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openContributorTabs, type Browser } from '../support/browser.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from '../support/coordinator-process.js';
import { startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres.js';
import { ScenarioReport } from '../support/report.js';
import { FAULT_ENV, faultClip, finishAndVerify, submit, waitUntil } from './harness.js';

const OUTAGE_SECONDS = 8;

describe('PostgreSQL restarted mid-job', () => {
  let pg: PrivatePostgres;
  let coordinator: CoordinatorProcess;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    coordinator = await startCoordinatorProcess({ name: 'fault-postgres', env: { DATABASE_URL: pg.url, ...FAULT_ENV } });
    browser = await launchChromium();
    dir = await tempDir('pg-restart');
  });
  afterAll(async () => {
    await browser?.close();
    await coordinator?.stop();
    await pg?.destroy();
    await removeDir(coordinator?.dataDir);
    await removeDir(dir);
  });

  it(`an ${OUTAGE_SECONDS} s database outage mid-transcode: the coordinator stays up and the job finishes`, async () => {
    const { file, facts } = await faultClip(dir);
    await openContributorTabs(browser, coordinator.url, 2);
    const report = new ScenarioReport(`PostgreSQL stopped for ${OUTAGE_SECONDS} s mid-transcode`);
    const id = await submit(coordinator.api, file);
    const before = await waitUntil(coordinator.api, id, (j) => j.state === 'transcoding' && j.progress.done >= 1);
    await pg.stop();
    report.injected(`pg_ctl stop -m fast at ${before.progress.done}/${before.progress.total} tasks done`);

    const health = await fetch(`${coordinator.url}/healthz`);
    const body = (await health.json()) as { ok: boolean; database: { ok: boolean; error?: string }; storage: { ok: boolean } };
    expect(health.status).toBe(503);
    expect(body.database.ok).toBe(false);
    expect(body.storage.ok).toBe(true);
    report.observed(`/healthz 503: database down (${body.database.error}), storage up`);
    // The API answers with an error, and the process stays alive throughout.
    expect((await fetch(`${coordinator.url}/api/jobs/${id}`)).status).toBe(500);
    await sleep(OUTAGE_SECONDS * 1000);
    expect(coordinator.child.exitCode).toBeNull();

    await pg.start();
    report.injected('pg_ctl start');
    await expect.poll(async () => (await fetch(`${coordinator.url}/healthz`)).status, { timeout: 30_000 }).toBe(200);
    report.observed('/healthz 200 again');
    await finishAndVerify({ api: coordinator.api, id, source: facts, dir, dataDir: coordinator.dataDir, report });
    report.print();
  });
});
