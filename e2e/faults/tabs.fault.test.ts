/**
 * Volunteers close tabs mid-task, again and again, while other tabs keep
 * working: the job still finishes frame-exact, every task accepted once,
 * and the task history says what happened.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tabgrid/coordinator/src/db/test-database.js';
import { launchChromium, openContributorTabs, tabStatus, type Browser, type Page } from '../support/browser.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from '../support/coordinator-process.js';
import { ScenarioReport } from '../support/report.js';
import { FAULT_ENV, faultClip, finishAndVerify, submit, waitUntil } from './harness.js';

describe('tabs closed mid-task', () => {
  let db: TestDatabase;
  let coordinator: CoordinatorProcess;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('tabgrid_faults');
    coordinator = await startCoordinatorProcess({ name: 'fault-tabs', env: { DATABASE_URL: db.url, ...FAULT_ENV } });
    browser = await launchChromium();
    dir = await tempDir('tabs');
  });
  afterAll(async () => {
    await browser?.close();
    await coordinator?.stop();
    await db?.drop();
    await removeDir(coordinator?.dataDir);
    await removeDir(dir);
  });

  it('baseline, then 4 tabs closed while working: both jobs finish frame-exact', async () => {
    const { file, facts } = await faultClip(dir);

    const baseline = new ScenarioReport('baseline: 3 tabs, no injection');
    let tabs: Page[] = await openContributorTabs(browser, coordinator.url, 3);
    const baseId = await submit(coordinator.api, file);
    await finishAndVerify({ api: coordinator.api, id: baseId, source: facts, dir, dataDir: coordinator.dataDir, report: baseline });
    const baselineSeconds = baseline.elapsedSeconds();
    baseline.print();

    const report = new ScenarioReport('close working tabs repeatedly');
    const id = await submit(coordinator.api, file);
    let closed = 0;
    while (closed < 4) {
      const job = await waitUntil(coordinator.api, id, () => true);
      if (job.state === 'done' || job.state === 'failed') break;
      // Close a tab that is holding a lease right now.
      const statuses = await Promise.all(tabs.map((t) => tabStatus(t).catch(() => undefined)));
      const busy = tabs.findIndex((_, i) => statuses[i]?.currentLease);
      if (busy < 0) {
        await new Promise((r) => setTimeout(r, 150));
        continue;
      }
      const victim = tabs[busy]!;
      await victim.context().close();
      closed++;
      const lease = statuses[busy]!.currentLease!;
      report.injected(`closed tab ${busy + 1} while it was ${lease.stage} chunk ${lease.chunk} ${lease.rendition} (${closed}/4)`);
      tabs = [...tabs.slice(0, busy), ...tabs.slice(busy + 1), ...(await openContributorTabs(browser, coordinator.url, 1))];
      await new Promise((r) => setTimeout(r, 1500));
    }
    expect(closed).toBeGreaterThanOrEqual(2);
    const job = await finishAndVerify({ api: coordinator.api, id, source: facts, dir, dataDir: coordinator.dataDir, report });
    expect(job.state).toBe('done');
    const tasks = await coordinator.api.getTasks(id);
    const interrupted = tasks.flatMap((t) => t.history).filter((h) => h.outcome !== 'done');
    expect(interrupted.length).toBeGreaterThanOrEqual(1);
    expect(tasks.every((t) => t.history.filter((h) => h.outcome === 'done').length === 1)).toBe(true);
    report.observed(
      `${interrupted.length} attempts ended by closed tabs (${interrupted.map((h) => `${h.outcome}: ${h.reason}`).join('; ')}); each task accepted exactly once`,
    );
    report.print();
    console.log(`wall time: baseline ${baselineSeconds.toFixed(1)} s, with 4 closed tabs ${report.elapsedSeconds().toFixed(1)} s`);
  });
});
