/**
 * `tabgrid workers --count N`: N headless Chromium tabs on the contributor
 * page, each in its own browser context (its own sessionStorage, so its own
 * worker id), kept until Ctrl-C. Uses Debian's /usr/bin/chromium, or
 * CHROMIUM_PATH.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumPath(): string {
  const p = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(p)) throw new Error(`no Chromium at ${p}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
  return p;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true });
}

export async function openContributorTabs(browser: Browser, url: string, count: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/contribute/`);
    pages.push(page);
  }
  return pages;
}

interface TabStatus {
  connection: string;
  tasksDone: number;
  failures: number;
}

export async function runWorkers(opts: { url: string; count: number }): Promise<number> {
  const browser = await launchChromium();
  const pages = await openContributorTabs(browser, opts.url, opts.count);
  console.error(`${opts.count} tab(s) open on ${opts.url}/contribute/; Ctrl-C to stop`);
  let stopping = false;
  const stop = new Promise<void>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolve());
  });
  const report = setInterval(() => {
    void Promise.all(
      pages.map((p) =>
        p.evaluate(() => (globalThis as unknown as { __tabgrid?: { status(): TabStatus } }).__tabgrid?.status()).catch(() => undefined),
      ),
    ).then((statuses) => {
      if (stopping) return;
      const line = statuses
        .map((s, i) => (s ? `tab${i + 1}: ${s.connection}, ${s.tasksDone} done, ${s.failures} failed` : `tab${i + 1}: ?`))
        .join(' | ');
      console.error(line);
    });
  }, 5000);
  await stop;
  stopping = true;
  clearInterval(report);
  await browser.close();
  return 0;
}
