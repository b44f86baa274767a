/**
 * kill -9 of the coordinator, mid-transcode and mid-merge, then a restart on
 * the same DATA_DIR and port (the embedded default: PGlite and the embedded
 * storage both have to come back from an unclean stop). The tabs keep
 * running and reconnect by themselves; the jobs finish frame-exact.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openContributorTabs, type Browser } from '../support/browser.js';
import { freePort, removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from '../support/coordinator-process.js';
import { ScenarioReport } from '../support/report.js';
import { FAULT_ENV, faultClip, finishAndVerify, submit, waitUntil } from './harness.js';

describe('coordinator killed with SIGKILL', () => {
  let browser: Browser;
  let dir: string;
  let dataDir: string;
  let port: number;
  let coordinator: CoordinatorProcess | undefined;
  const start = (env: Record<string, string> = {}) =>
    startCoordinatorProcess({ name: 'fault-crash', dataDir, port, env: { ...FAULT_ENV, ...env } });

  beforeAll(async () => {
    dir = await tempDir('crash');
    dataDir = await tempDir('crash-data');
    port = await freePort();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await coordinator?.stop();
    await removeDir(dataDir);
    await removeDir(dir);
  });

  it('mid-transcode: restarts on the same data, tabs reconnect, the job finishes', async () => {
    const { file, facts } = await faultClip(dir);
    coordinator = await start();
    await openContributorTabs(browser, coordinator.url, 2);
    const report = new ScenarioReport('kill -9 coordinator mid-transcode');
    const id = await submit(coordinator.api, file);
    const before = await waitUntil(coordinator.api, id, (j) => j.state === 'transcoding' && j.progress.done >= 2);
    await coordinator.kill9();
    report.injected(`SIGKILL at ${before.progress.done}/${before.progress.total} tasks done`);
    const down = Date.now();
    coordinator = await start();
    report.observed(
      `coordinator back after ${((Date.now() - down) / 1000).toFixed(1)} s (stale DATA_DIR lock taken over, PGlite recovered)`,
    );
    await finishAndVerify({ api: coordinator.api, id, source: facts, dir, dataDir, report });
    const tasks = await coordinator.api.getTasks(id);
    expect(tasks.every((t) => t.history.filter((h) => h.outcome === 'done').length === 1)).toBe(true);
    report.observed(`attempts per task: ${tasks.map((t) => t.attempts).join(',')}`);
    report.print();
  });

  it('mid-merge: the merge runs again from the accepted segments after the restart', async () => {
    const { file, facts } = await faultClip(dir, 8);
    await coordinator?.stop();
    // Hold the merge at a named point so the kill lands inside it, not before or after.
    coordinator = await start({ TABGRID_FAILPOINTS: 'merge.before-upload=4000' });
    const report = new ScenarioReport('kill -9 coordinator mid-merge');
    const id = await submit(coordinator.api, file);
    await waitUntil(coordinator.api, id, (j) => j.state === 'merging');
    await sleep(1000);
    await coordinator.kill9();
    report.injected('SIGKILL during the merge step (paused at merge.before-upload)');
    coordinator = await start();
    await finishAndVerify({ api: coordinator.api, id, source: facts, dir, dataDir, report });
    report.print();
  });
});
