/**
 * A coordinator with ADMIN_TOKEN, as its operators and their viewers use it,
 * in real Chromium: the dashboard asks for the token once (a wrong one is
 * refused in words), then works on its session cookie: upload, the live
 * grid filled by real contributor tabs (which need no login) running
 * ffmpeg.wasm under the contributor page's CSP, a share link made on the
 * job page and opened in a fresh browser with no login, where the job shows
 * and its adaptive stream plays; logging out ends the session for good.
 * No page may log a console error (CSP violations are console errors) but
 * the one 401 a wrong token is answered with. The CLI is checked with and
 * without TABGRID_TOKEN on the same coordinator.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRequestError, createApiClient } from '@tabgrid/shared';
import { waitForJob } from './support/api.js';
import { launchChromium, type Browser, type Page } from './support/browser.js';
import {
  ARTIFACTS,
  REPO_ROOT,
  removeDir,
  startCoordinatorProcess,
  tempDir,
  type CoordinatorProcess,
} from './support/coordinator-process.js';
import { makeClip } from './support/media.js';

const run = promisify(execFile);
const SCREENSHOTS = path.join(ARTIFACTS, 'screenshots');
const TOKEN = 'e2e-operator-token-0123456789abcdef';
/** 6 s at 640×360, keyframe every second, cut every 2 s: 3 chunks × 2 renditions. */
const ENV = { ADMIN_TOKEN: TOKEN, RENDITIONS: '360p,240p', CHUNK_SECONDS: '2' };
const TASKS = 6;

let coordinator: CoordinatorProcess;
let browser: Browser;
let dir: string;
let clip: string;
let page: Page;
/** Console errors and uncaught exceptions of every page this file opens, as they happen. */
const consoleErrors: string[] = [];

/**
 * Collects into `consoleErrors` itself. (support/browser.ts's watchConsole
 * returns a list it fills later, so spreading it into another list, as
 * dashboard.e2e.test.ts does, copies an empty list and checks nothing.)
 */
function watch(p: Page, label: string): void {
  p.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${label}: ${m.text()}`);
  });
  p.on('pageerror', (e) => consoleErrors.push(`${label}: ${e.message}`));
}

/** Records CSP violations as the page sees them (`securitypolicyviolation`), in every frame of a context. */
const CSP_WATCH = () => {
  const seen: string[] = [];
  (window as unknown as { __csp: string[] }).__csp = seen;
  document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
};
const cspViolations = (p: Page) => p.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);

beforeAll(async () => {
  dir = await tempDir('operators');
  await mkdir(SCREENSHOTS, { recursive: true });
  clip = path.join(dir, 'harbour.mp4');
  await makeClip(clip, { seconds: 6, width: 640, height: 360, fps: 30, audio: true, gop: 30 });
  coordinator = await startCoordinatorProcess({ env: ENV, name: 'operators' });
  browser = await launchChromium();
  const context = await browser.newContext();
  await context.addInitScript(CSP_WATCH);
  page = await context.newPage();
  watch(page, 'dashboard');
});

afterAll(async () => {
  await browser?.close();
  await coordinator?.stop();
  await removeDir(coordinator?.dataDir);
  await removeDir(dir);
});

describe('a coordinator with ADMIN_TOKEN', () => {
  it('refuses the API without the token, and the CLI says what to set', async () => {
    const anonymous = createApiClient({ baseUrl: coordinator.url });
    const refused = await anonymous.listJobs().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiRequestError);
    expect(refused).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await anonymous.session()).toEqual({ required: true, authenticated: false, expiresAt: null });
    expect((await anonymous.health()).ok).toBe(true);
    const cli = await run('pnpm', ['--silent', 'tabgrid', 'submit', clip, '--url', coordinator.url], {
      cwd: REPO_ROOT,
      env: { ...process.env, TABGRID_TOKEN: '' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(cli).toMatchObject({ code: 1, stderr: expect.stringMatching(/upload refused: .*ADMIN_TOKEN.*Set TABGRID_TOKEN/) });
  });

  it('the dashboard asks for the token once, refuses a wrong one in words, and keeps an HttpOnly session', async () => {
    await page.goto(coordinator.url);
    await page.getByTestId('login-token').fill('not-the-token-but-a-long-guess');
    await page.getByTestId('login-submit').click();
    await expect.poll(() => page.getByTestId('login-error').textContent()).toBe('That is not this coordinator’s token.');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'login-refused-desktop.png') });
    // The one error this step logs: the browser's note of the 401 itself.
    await expect.poll(() => consoleErrors.length).toBe(1);
    expect(consoleErrors).toEqual(['dashboard: Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
    consoleErrors.length = 0;

    await page.getByTestId('login-token').fill(TOKEN);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('upload-input').waitFor();
    await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('open');
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'tabgrid_session', httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie!.value).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe(''); // not readable by scripts

    // A reload goes straight back in: the token is not asked again.
    await page.reload();
    await page.getByTestId('upload-input').waitFor();
    expect(await page.getByTestId('login-token').count()).toBe(0);
  });

  it('uploads, fills the grid from real tabs that need no login, and shares the job with a fresh browser that plays it', async () => {
    // Contributor tabs as openContributorTabs opens them, each in its own context, watched for CSP violations from the start.
    const tabs: Page[] = [];
    for (let i = 0; i < 2; i++) {
      const context = await browser.newContext();
      await context.addInitScript(CSP_WATCH);
      const tab = await context.newPage();
      watch(tab, `contributor tab ${i + 1}`);
      await tab.goto(`${coordinator.url}/contribute/`);
      tabs.push(tab);
    }
    await page.getByTestId('upload-input').setInputFiles(clip);
    await page.getByTestId('upload-submit').click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').at(-1)!;
    const cells = page.locator('[data-testid="grid-cell"]');
    await expect.poll(() => cells.count(), { timeout: 60_000 }).toBe(TASKS);
    await expect
      .poll(() => cells.evaluateAll((els) => els.every((e) => e.getAttribute('data-state') === 'done')), { timeout: 180_000 })
      .toBe(true);
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    for (const t of tabs) {
      // ffmpeg.wasm compiled and ran under the contributor page's policy ('wasm-unsafe-eval', blob: workers).
      expect(await cspViolations(t)).toEqual([]);
      await t.context().close();
    }

    await page.getByTestId('share').click();
    const url = await page.getByTestId('share-url').inputValue();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'job-share-desktop.png') });
    expect(url).toMatch(new RegExp(`^${coordinator.url}/share/[A-Za-z0-9_-]{71}$`));

    // Someone else, who never logged in.
    const viewerContext = await browser.newContext();
    await viewerContext.addInitScript(CSP_WATCH);
    const viewer = await viewerContext.newPage();
    watch(viewer, 'share page');
    await viewer.goto(url);
    await expect.poll(() => viewer.getByTestId('shared-job').getAttribute('data-job-id')).toBe(id);
    expect(await viewer.getByTestId('job-state').getAttribute('data-state')).toBe('done');
    expect(await viewer.locator('h1').textContent()).toBe('harbour.mp4');
    // No operator controls, no other page's links.
    for (const testId of ['share', 'cancel', 'delete', 'retry', 'logout', 'connection'])
      expect(await viewer.getByTestId(testId).count()).toBe(0);
    // The downloads load, and the adaptive stream plays through the share's own playlists.
    await expect.poll(() => viewer.getByTestId('output').count()).toBe(2);
    await viewer.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="output"] video')].every((v) => (v as HTMLVideoElement).readyState >= 1),
      undefined,
      { timeout: 20_000 },
    );
    await expect.poll(() => viewer.getByTestId('hls-player').getAttribute('data-engine'), { timeout: 10_000 }).toBe('hls.js');
    await viewer.getByTestId('hls-video').evaluate((v: HTMLVideoElement) => {
      v.muted = true;
      return v.play();
    });
    await expect
      .poll(() => viewer.getByTestId('hls-video').evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 20_000 })
      .toBeGreaterThan(1);
    await expect.poll(() => viewer.getByTestId('hls-level').textContent()).toMatch(/Playing \d+p/);
    await viewer.getByTestId('hls-video').evaluate((v: HTMLVideoElement) => v.pause());
    await viewer.screenshot({ path: path.join(SCREENSHOTS, 'shared-job-desktop.png'), fullPage: true });
    // The link opens nothing else for its holder: the API is closed to this browser.
    expect((await viewerContext.request.get(`${coordinator.url}/api/jobs`)).status()).toBe(401);
    expect((await viewerContext.request.get(`${coordinator.url}/api/jobs/${id}`)).status()).toBe(401);
    expect(await cspViolations(viewer)).toEqual([]);
    await viewerContext.close();

    // The CLI with the token makes a link too.
    const { stdout } = await run('pnpm', ['--silent', 'tabgrid', 'share', id, '--days', '1', '--url', coordinator.url], {
      cwd: REPO_ROOT,
      env: { ...process.env, TABGRID_TOKEN: TOKEN },
    });
    expect(stdout.trim()).toMatch(new RegExp(`^${coordinator.url}/share/[A-Za-z0-9_-]{71}$`));
    expect((await waitForJob(coordinator.api, id, { timeoutMs: 5000 })).state).toBe('done');
  });

  it('logging out ends the session: the page asks again, and the old cookie is refused if replayed', async () => {
    const [cookie] = await page.context().cookies();
    await page.getByRole('link', { name: /Jobs/ }).first().click();
    await page.getByTestId('logout').click();
    await page.getByTestId('login-token').waitFor();
    expect(await page.context().cookies()).toEqual([]);
    await page.reload();
    await page.getByTestId('login-token').waitFor();
    const replayed = await fetch(`${coordinator.url}/api/jobs`, { headers: { cookie: `${cookie!.name}=${cookie!.value}` } });
    expect(replayed.status).toBe(401);
    expect(await cspViolations(page)).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
