/**
 * The walking skeleton end to end, as a new user would run it: a real
 * coordinator (the `pnpm start` entry point), two real headless Chromium
 * tabs on the contributor page running ffmpeg.wasm, an uploaded 10 s
 * 1280×720 30 fps H.264 + AAC clip, and every output checked with ffprobe.
 * Once on the embedded default (PGlite + embedded S3), once on the real
 * PostgreSQL.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tabgrid/coordinator/src/db/test-database.js';
import { refusal, submitFile, waitForJob } from './support/api.js';
import { launchChromium, openContributorTabs, tabStatus, watchConsole, type Browser } from './support/browser.js';
import { REPO_ROOT, removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from './support/coordinator-process.js';
import { makeClip, probe, type StreamFacts } from './support/media.js';
import { verifyOutputs } from './support/verify-output.js';

const EXPECTED = [
  { rendition: '720p', width: 1280, height: 720 },
  { rendition: '480p', width: 854, height: 480 },
  { rendition: '360p', width: 640, height: 360 },
];

const run = promisify(execFile);

let clip: string;
let source: StreamFacts;
let workDir: string;

afterAll(() => removeDir(workDir));

beforeAll(async () => {
  workDir = await tempDir('pipeline');
  clip = path.join(workDir, 'clip.mp4');
  await makeClip(clip);
  source = await probe(clip);
  expect(source.frames).toBe(300);
});

/** `pnpm tabgrid submit FILE --wait`, as a user would type it; returns the job id and the printed outputs. */
async function submitWithCli(url: string, file: string): Promise<{ id: string; outputs: string[] }> {
  const { stdout } = await run('pnpm', ['--silent', 'tabgrid', 'submit', file, '--wait', '--url', url], {
    cwd: REPO_ROOT,
    timeout: 240_000,
  });
  const id = /^job (\S+)$/m.exec(stdout)?.[1];
  if (!id) throw new Error(`no job id in CLI output: ${stdout}`);
  return { id, outputs: stdout.split('\n').filter((l) => /^\d+p\t/.test(l)) };
}

function pipelineSuite(
  name: string,
  submitVia: 'api' | 'cli',
  env: () => Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>,
) {
  describe(name, () => {
    let coordinator: CoordinatorProcess;
    let browser: Browser;
    let cleanup: () => Promise<void> = async () => {};
    /** Each tab's console errors, as they happen (watchConsole's list fills after it returns). */
    const consoleErrors: string[][] = [];

    beforeAll(async () => {
      const setup = await env();
      cleanup = setup.cleanup;
      coordinator = await startCoordinatorProcess({ env: setup.env, name: `pipeline-${name.replace(/\W+/g, '-')}` });
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      await coordinator?.stop();
      await cleanup();
      await removeDir(coordinator?.dataDir);
    });

    it('transcodes an uploaded clip into three frame-exact renditions with two tabs', async () => {
      const tabs = await openContributorTabs(browser, coordinator.url, 2);
      for (const t of tabs) consoleErrors.push(watchConsole(t));

      const started = Date.now();
      let id: string;
      if (submitVia === 'api') {
        const created = await submitFile(coordinator.api, clip); // the client accepts only the API's 201
        expect(created.state).toBe('queued');
        id = created.id;
      } else {
        const cli = await submitWithCli(coordinator.url, clip);
        id = cli.id;
        expect(cli.outputs.map((l) => l.split('\t').slice(0, 2).join(' '))).toEqual(
          EXPECTED.map((e) => `${e.rendition} ${e.width}x${e.height}`),
        );
      }
      const job = await waitForJob(coordinator.api, id, { timeoutMs: 240_000 });
      const seconds = (Date.now() - started) / 1000;
      expect(job.error).toBeNull();
      expect(job.state).toBe('done');
      expect(job.progress).toEqual({ done: 9, total: 9 });
      expect(job.source).toMatchObject({ width: 1280, height: 720, fps: 30, hasAudio: true });

      // Both tabs did work, and the grid says who did what.
      const tasks = await coordinator.api.getTasks(id);
      expect(tasks).toHaveLength(9);
      expect(tasks.every((t) => t.state === 'done' && t.attempts >= 1)).toBe(true);
      const workers = new Set(tasks.map((t) => t.worker));
      expect(workers.size).toBe(2);
      const statuses = await Promise.all(tabs.map(tabStatus));
      expect(statuses.reduce((s, t) => s + (t?.tasksDone ?? 0), 0)).toBeGreaterThanOrEqual(9);

      await verifyOutputs(job, { baseUrl: coordinator.url, source, expected: EXPECTED, dir: workDir });
      console.log(`[${name}] 10 s clip → 3 renditions with 2 tabs in ${seconds.toFixed(1)} s`);
      expect(consoleErrors.flat()).toEqual([]);
    });

    it('refuses a file that is not a video, in words', async () => {
      const bogus = path.join(workDir, 'notes.mp4');
      await (await import('node:fs/promises')).writeFile(bogus, 'this is not a video\n');
      const refused = await refusal(submitFile(coordinator.api, bogus));
      expect(refused.status).toBe(422);
      // The API's own message: without its error body the client says only "HTTP 422".
      expect(refused.message).toMatch(/not a decodable video/);
    });
  });
}

pipelineSuite('embedded default (PGlite + embedded S3)', 'api', async () => ({ env: {}, cleanup: async () => {} }));

pipelineSuite('real PostgreSQL', 'cli', async () => {
  const db: TestDatabase = await createTestDatabase('tabgrid_e2e');
  return { env: { DATABASE_URL: db.url }, cleanup: () => db.drop() };
});
