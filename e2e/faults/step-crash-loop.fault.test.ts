/**
 * A step that takes the coordinator down with it, again and again (a source
 * that makes ffprobe or ffmpeg exhaust the machine, a kill -9 mid-step) is
 * not run forever: the coordinator is killed with SIGKILL inside the probe
 * step (held there by the `step.before-probe` failpoint), restarted on the
 * same DATA_DIR and port, killed again; at the next claim the job fails
 * saying the coordinator stopped while running the probe step that many
 * times, and the coordinator carries on serving. A retry runs it afresh.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from '../support/coordinator-process.js';
import { makeClip } from '../support/media.js';
import { ScenarioReport } from '../support/report.js';
import { submit, waitUntil } from './harness.js';

const MAX_STEP_ATTEMPTS = 2;

describe('a step that crashes the coordinator every time', () => {
  let dir: string;
  let dataDir: string;
  let port: number;
  let coordinator: CoordinatorProcess | undefined;
  const start = (env: Record<string, string>) =>
    startCoordinatorProcess({ name: 'fault-crash-loop', dataDir, port, env: { MAX_STEP_ATTEMPTS: String(MAX_STEP_ATTEMPTS), ...env } });

  beforeAll(async () => {
    dir = await tempDir('crash-loop');
    dataDir = await tempDir('crash-loop-data');
    port = await freePort();
  });
  afterAll(async () => {
    await coordinator?.stop();
    await removeDir(dataDir);
    await removeDir(dir);
  });

  /** Waits until the coordinator's log shows the probe step paused `n` times in all (it is inside the step then). */
  async function pausedInProbe(c: CoordinatorProcess, n: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const log = await readFile(c.logFile, 'utf8').catch(() => '');
      if ((log.match(/"failpoint":"step\.before-probe"/g) ?? []).length >= n) return;
      if (Date.now() > deadline) throw new Error(`the probe step never paused a ${n}th time; see ${c.logFile}`);
      await sleep(200);
    }
  }

  it('fails the job after MAX_STEP_ATTEMPTS unfinished starts, in words, and keeps serving', async () => {
    const file = path.join(dir, 'clip.mp4');
    await makeClip(file, { seconds: 4, width: 320, height: 180, fps: 30, audio: false, gop: 60 });
    const report = new ScenarioReport(`kill -9 inside the probe step, ${MAX_STEP_ATTEMPTS} times`);
    const hold = { TABGRID_FAILPOINTS: 'step.before-probe=120000' };
    coordinator = await start(hold);
    const id = await submit(coordinator.api, file, ['240p']);
    for (let crash = 1; crash <= MAX_STEP_ATTEMPTS; crash++) {
      await pausedInProbe(coordinator, crash);
      expect((await coordinator.api.getJob(id)).state).toBe('probing');
      await coordinator.kill9();
      report.injected(`SIGKILL inside the probe step (start ${crash})`);
      coordinator = await start(hold);
    }
    const failed = await waitUntil(coordinator.api, id, (j) => j.state === 'failed', 30_000);
    report.observed(`failed: ${failed.error}`);
    expect(failed.error).toMatch(
      new RegExp(
        `^the coordinator stopped while running the probe step ${MAX_STEP_ATTEMPTS} times .*\\(MAX_STEP_ATTEMPTS=${MAX_STEP_ATTEMPTS}\\)`,
      ),
    );
    // It was failed at the claim, not run a third time.
    const log = await readFile(coordinator.logFile, 'utf8');
    expect((log.match(/"failpoint":"step\.before-probe"/g) ?? []).length).toBe(MAX_STEP_ATTEMPTS);
    expect((await coordinator.api.health()).ok).toBe(true);
    report.verified('the coordinator kept serving (healthz ok); the probe step did not start a third time');

    // Without the crash, a retry runs the job again from its probe, with a fresh count.
    await coordinator.stop();
    coordinator = await start({});
    await coordinator.api.retryJob(id);
    const resumed = await waitUntil(coordinator.api, id, (j) => j.state === 'transcoding', 60_000);
    report.observed(`after retry: ${resumed.state}, ${resumed.progress.total} tasks`);
    report.print();
  }, 240_000);
});
