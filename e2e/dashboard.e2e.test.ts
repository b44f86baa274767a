/**
 * The dashboard as a person uses it: real Chromium on a real coordinator
 * (the `pnpm start` entry point, PGlite + embedded storage) with real
 * contributor tabs. Nothing but the page: upload by the file picker, read
 * errors in words, cancel after a confirmation, watch the chunk grid fill
 * through pushed updates (no polling, no reload), play the outputs, look at
 * the volunteers. Screenshots at desktop and phone size go to
 * e2e/artifacts/screenshots/ for people (and CI artifacts) to look at.
 */
import { writeFile } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitFile, waitForJob } from './support/api.js';
import { launchChromium, openContributorTabs, tabStatus, watchConsole, type Browser, type Page } from './support/browser.js';
import { ARTIFACTS, removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from './support/coordinator-process.js';
import { makeClip } from './support/media.js';

const SCREENSHOTS = path.join(ARTIFACTS, 'screenshots');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
/**
 * 8 s at 640×360 with a keyframe every second, cut every 2 s: 4 chunks × 2
 * renditions = 8 small tasks. Two attempts per task, so the failing job fails
 * soon; they must come from two addresses (one address cannot kill a task),
 * so the coordinator reads the address from X-Forwarded-For (TRUST_PROXY) and
 * each failing tab's browser context sends its own.
 */
const ENV = { RENDITIONS: '360p,240p', CHUNK_SECONDS: '2', MAX_ATTEMPTS: '2', TRUST_PROXY: '1' };
const TASKS = 8;

let coordinator: CoordinatorProcess;
let browser: Browser;
let page: Page;
let dir: string;
let clip: string;
/** Each watched page's console errors, as they happen (watchConsole's list fills after it returns). */
const consoleErrors: string[][] = [];
/**
 * Console errors a test causes on purpose, each with the test that expects it;
 * the last test checks that every other error is absent.
 */
const expectedErrors: RegExp[] = [];
/** Every request the dashboard page made to the API. */
const apiRequests: { method: string; url: string; type: string }[] = [];

const cells = (state?: string) => page.locator(state ? `[data-testid="grid-cell"][data-state="${state}"]` : '[data-testid="grid-cell"]');

async function screenshot(
  name: string,
  url: string,
  viewport: { width: number; height: number },
  colorScheme: 'light' | 'dark' = 'light',
): Promise<void> {
  const context = await browser.newContext({
    viewport,
    colorScheme,
    deviceScaleFactor: 1,
    isMobile: viewport.width < 500,
    hasTouch: viewport.width < 500,
  });
  const p = await context.newPage();
  consoleErrors.push(watchConsole(p));
  await p.goto(`${coordinator.url}${url}`);
  // Pushed data, not a spinner: wait until the page shows what it is for.
  await p.waitForFunction(() => !/Loading/.test(document.querySelector('main')?.textContent ?? ''), undefined, { timeout: 10_000 });
  await p.waitForTimeout(300);
  await p.screenshot({
    path: path.join(SCREENSHOTS, `${name}${colorScheme === 'dark' ? '-dark' : ''}-${viewport === PHONE ? 'phone' : 'desktop'}.png`),
    fullPage: true,
  });
  // Nothing may stick out sideways on a phone: the page scrolls only down.
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `${name} is wider than the ${viewport.width} px viewport`).toBeLessThanOrEqual(0);
  await context.close();
}

beforeAll(async () => {
  dir = await tempDir('dashboard');
  await mkdir(SCREENSHOTS, { recursive: true });
  clip = path.join(dir, 'city-walk.mp4');
  await makeClip(clip, { seconds: 8, width: 640, height: 360, fps: 30, audio: true, gop: 30 });
  coordinator = await startCoordinatorProcess({ env: ENV, name: 'dashboard' });
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  consoleErrors.push(watchConsole(page));
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) apiRequests.push({ method: r.method(), url: r.url(), type: r.resourceType() });
  });
});

afterAll(async () => {
  await browser?.close();
  await coordinator?.stop();
  await removeDir(coordinator?.dataDir);
  await removeDir(dir);
});

describe('dashboard', () => {
  it('refuses a file that is not a video, in words, in the upload form', async () => {
    const bogus = path.join(dir, 'notes.mp4');
    await writeFile(bogus, 'this is not a video\n');
    expectedErrors.push(/status of 422 \(Unprocessable Entity\)/); // the refused upload
    await page.goto(coordinator.url);
    await page.getByTestId('upload-input').setInputFiles(bogus);
    await page.getByTestId('upload-submit').click();
    await expect.poll(() => page.getByTestId('upload-error').textContent()).toMatch(/notes\.mp4 was not accepted: .*not a decodable video/);
  });

  it('shows why a job failed after it was accepted, and which chunk was retried', async () => {
    // Tabs whose encoder never gets anywhere: their watchdog gives up on every
    // task at once (?stallSeconds), the only tabs there are, so each attempt fails.
    // Two volunteers at two addresses: failures from one address never kill a task.
    const stallingTabs = await Promise.all(
      ['198.51.100.1', '198.51.100.2'].map(async (address) => {
        const tab = await (await browser.newContext({ extraHTTPHeaders: { 'X-Forwarded-For': address } })).newPage();
        await tab.goto(`${coordinator.url}/contribute/?stallSeconds=0.01`);
        return tab;
      }),
    );
    for (const tab of stallingTabs)
      await expect.poll(async () => (await tabStatus(tab))?.connection, { timeout: 60_000 }).toBe('connected');
    const small = path.join(dir, 'short.mp4');
    await makeClip(small, { seconds: 2, width: 320, height: 240, fps: 30, audio: false, gop: 30 });
    await page.getByTestId('upload-input').setInputFiles(small);
    await page.getByRole('checkbox', { name: '240p' }).check();
    await page.getByTestId('upload-submit').click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 90_000 }).toBe('failed');
    for (const tab of stallingTabs) await tab.context().close();
    expect(await page.getByTestId('job-error').textContent()).toMatch(/chunk 0 \(240p\) failed 2 times; .*made no progress/);
    expect(await cells('dead').count()).toBe(1);
    expect(await cells('dead').first().textContent()).toBe('2'); // the retry badge
    await cells('dead').first().hover();
    expect(await page.getByTestId('task-details').textContent()).toMatch(/failed in the tab.*stalled/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'job-failed-desktop.png'), fullPage: true });
    await page.getByRole('link', { name: '← All jobs' }).click();
    await expect.poll(() => page.locator('[data-testid="job-row"]').first().getAttribute('data-state')).toBe('failed');
    expect(await page.locator('[data-testid="job-row"]').first().textContent()).toMatch(/failed 2 times/);
  });

  it('cancels a job only after the person confirms', async () => {
    // No tab is connected yet, so the job waits in transcoding with its chunks queued.
    const { id } = await submitFile(coordinator.api, clip);
    await page.goto(`${coordinator.url}/jobs/${id}`);
    await expect.poll(() => cells('queued').count(), { timeout: 30_000 }).toBe(TASKS);
    expect(await page.getByTestId('no-workers').isVisible()).toBe(true);

    await page.getByTestId('cancel').click();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'confirm-cancel-desktop.png') });
    await page.getByRole('button', { name: 'Keep it running' }).click();
    await page.waitForTimeout(800);
    expect(await page.getByTestId('job-state').getAttribute('data-state')).toBe('transcoding');

    await page.getByTestId('cancel').click();
    await page.getByTestId('confirm').click();
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state')).toBe('canceled');
    await expect.poll(() => cells('canceled').count()).toBe(TASKS);

    // An ended job can be deleted, again after asking; the page goes back to the list, which no longer has it.
    await page.getByTestId('delete').click();
    await page.getByTestId('confirm').click();
    await page.waitForURL(`${coordinator.url}/`);
    await expect.poll(() => page.locator(`[data-testid="job-row"][data-job-id="${id}"]`).count()).toBe(0);
  });

  it('uploads through the page and fills the grid from pushed updates, without polling or reloading', async () => {
    const tabs = await openContributorTabs(browser, coordinator.url, 2);
    for (const t of tabs) consoleErrors.push(watchConsole(t));
    // A second person watches the volunteers page meanwhile.
    const watcher = await (await browser.newContext({ viewport: DESKTOP })).newPage();
    consoleErrors.push(watchConsole(watcher));
    await watcher.goto(`${coordinator.url}/workers`);
    await page.goto(coordinator.url);
    await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true));
    apiRequests.length = 0;

    await page.getByTestId('upload-input').setInputFiles(clip);
    await page.getByTestId('upload-submit').click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    const seen = new Set<string>();
    const deadline = Date.now() + 150_000;
    for (;;) {
      const states = await cells().evaluateAll((els) => els.map((e) => e.getAttribute('data-state') ?? ''));
      for (const s of states) seen.add(s);
      if (states.length === TASKS && states.every((s) => s === 'done')) break;
      if (!seen.has('shot') && states.includes('leased') && states.includes('done')) {
        seen.add('shot'); // mid-way, for people to see the grid and the volunteers at work
        await Promise.all([
          page.screenshot({ path: path.join(SCREENSHOTS, 'job-live-desktop.png'), fullPage: true }),
          watcher.screenshot({ path: path.join(SCREENSHOTS, 'workers-live-desktop.png'), fullPage: true }),
        ]);
      }
      if (Date.now() > deadline) throw new Error(`grid never filled: ${states.join(',')}`);
      await page.waitForTimeout(100);
    }
    await watcher.context().close();
    // It moved through the states on screen, on the same page load.
    expect([...seen].some((s) => s === 'leased' || s === 'verifying')).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 60_000 }).toBe('done');

    // Updates came over one EventSource per page; the only other API calls were the upload and the adaptive player's playlists.
    const other = apiRequests.filter(
      (r) =>
        !(r.type === 'eventsource' && r.method === 'GET' && /\/api\/events\?/.test(r.url)) &&
        !/^\/api\/jobs\/[^/]+\/hls\//.test(new URL(r.url).pathname),
    );
    expect(other.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual(['POST /api/jobs']);
    expect(apiRequests.filter((r) => r.type === 'eventsource').length).toBeLessThanOrEqual(3);

    // Both renditions play from their presigned URLs.
    await expect.poll(() => page.getByTestId('output').count()).toBe(2);
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="output"] video')].every((v) => (v as HTMLVideoElement).readyState >= 1),
      undefined,
      {
        timeout: 20_000,
      },
    );
    // Every player shows the poster; the job's heading has it too.
    await expect.poll(() => page.locator('video:not([poster])').count()).toBe(0);
    expect(await page.locator('video[poster]').count()).toBe(3);
    expect(await page.getByTestId('job-poster').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    // The adaptive player (hls.js, loaded on demand) lists the ladder and says which level plays.
    await expect.poll(() => page.getByTestId('hls-player').getAttribute('data-engine'), { timeout: 10_000 }).toBe('hls.js');
    await expect
      .poll(() => page.getByTestId('hls-level-picker').locator('option').allTextContents())
      .toEqual(['Auto', expect.stringMatching(/^360p · /), expect.stringMatching(/^240p · /)]);
    await page
      .getByTestId('hls-level-picker')
      .selectOption({ label: (await page.getByTestId('hls-level-picker').locator('option').nth(2).textContent())! });
    await page.getByTestId('hls-video').evaluate((v: HTMLVideoElement) => {
      v.muted = true;
      return v.play();
    });
    await expect.poll(() => page.getByTestId('hls-level').textContent(), { timeout: 20_000 }).toMatch(/Playing 240p · \d+×240/);
    await page.getByTestId('hls-video').evaluate((v: HTMLVideoElement) => v.pause());
    // A thumbnail plays the adaptive stream from its second.
    await page.getByRole('button', { name: 'Play from 0:05' }).click();
    await expect.poll(() => page.getByTestId('hls-video').evaluate((v: HTMLVideoElement) => v.currentTime)).toBeGreaterThanOrEqual(5);
    await page.getByTestId('hls-video').evaluate((v: HTMLVideoElement) => v.pause());
    // The filmstrip: one tile per second of the 8 s clip.
    expect(await page.getByTestId('thumbnails').locator('.tile').count()).toBe(8);
    // Quality is measured some seconds after done: until then the page says so (the table itself is checked below, on a fresh load).
    expect(await page.getByTestId('quality-pending').or(page.getByTestId('quality-table')).count()).toBe(1);

    // A cell's details by pointer, then by keyboard.
    await cells().first().hover();
    expect(await page.getByTestId('task-details').textContent()).toMatch(/360p · chunk 0.*accepted/);
    await cells().first().focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.getByTestId('task-details').textContent()).toMatch(/360p · chunk 1/);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-col'))).toBe('1');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'job-done-desktop.png'), fullPage: true });

    // The volunteers page, reached by its link: both tabs, and the two stalling ones (two addresses:
    // one alone cannot kill a task) that left with their failures, one each.
    await page.getByRole('link', { name: /Volunteers/ }).click();
    await expect.poll(() => page.getByTestId('workers-row').count()).toBe(4);
    expect(await page.getByTestId('workers-connected').textContent()).toBe('2');
    const left = page.locator('[data-testid="workers-row"][data-state="left"]');
    expect(await left.count()).toBe(2);
    expect(await left.locator('td[data-label="Failed"]').allTextContents()).toEqual(['1', '1']);
    const done = await page.locator('[data-testid="workers-row"]:not([data-state="left"]) td[data-label="Done"]').allTextContents();
    expect(done.map(Number).reduce((a, b) => a + b, 0)).toBe(TASKS);
  });

  it('stays right across a coordinator restart: the reconnect brings what changed meanwhile', async () => {
    await page.goto(coordinator.url);
    await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true));
    const failed = page.locator('[data-testid="job-row"][data-state="failed"]');
    await expect.poll(() => failed.count()).toBe(1);
    const failedId = (await failed.getAttribute('data-job-id'))!;

    // While the coordinator is down or starting: the event stream cut, the page's own abort below,
    // refused connections, and upgrades refused while the server closes. Never an upgrade answered with a page (200).
    expectedErrors.push(
      /ERR_INCOMPLETE_CHUNKED_ENCODING/,
      /Failed to load resource: net::ERR_FAILED/,
      /ERR_CONNECTION_REFUSED/,
      /Unexpected response code: 503/,
    );
    await coordinator.stop();
    await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('reconnecting');
    // Back on the same port and data, but this page may not reconnect until the change is made.
    await page.route('**/api/events?**', (route) => route.abort());
    coordinator = await startCoordinatorProcess({ env: ENV, name: 'dashboard', dataDir: coordinator.dataDir, port: coordinator.port });
    await coordinator.api.deleteJob(failedId); // the client accepts only the route's 204
    await page.waitForTimeout(1500);
    expect(await failed.count()).toBe(1); // still the old list: nothing reached the page
    await page.unroute('**/api/events?**');

    await expect.poll(() => failed.count(), { timeout: 20_000 }).toBe(0);
    expect(await page.getByTestId('connection').getAttribute('data-state')).toBe('open');
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
  });

  it('looks right at desktop and phone size', async () => {
    const [job] = await coordinator.api.listJobs();
    await waitForJob(coordinator.api, job!.id, { timeoutMs: 10_000 });
    await expect.poll(async () => (await coordinator.api.getJob(job!.id)).quality ?? null, { timeout: 60_000 }).not.toBeNull();
    await page.goto(`${coordinator.url}/jobs/${job!.id}`);
    await expect.poll(() => page.getByTestId('quality-row').count()).toBe(2);
    expect(await page.locator('[data-testid="quality-row"][data-rendition="360p"] td[data-label="SSIM"]').textContent()).toMatch(
      /^0\.9\d{3}$/,
    );
    for (const viewport of [DESKTOP, PHONE]) {
      await screenshot('jobs', '/', viewport);
      await screenshot('job', `/jobs/${job!.id}`, viewport);
      await screenshot('workers', '/workers', viewport);
      await screenshot('contribute', '/contribute/?autostart=0', viewport);
    }
    await screenshot('job', `/jobs/${job!.id}`, DESKTOP, 'dark');
    await screenshot('workers', '/workers', PHONE, 'dark');
    expect(consoleErrors.flat().filter((e) => !expectedErrors.some((x) => x.test(e)))).toEqual([]);
  });
});
