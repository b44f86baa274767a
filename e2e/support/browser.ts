/** Real headless Chromium tabs on the contributor page (Debian's chromium through playwright-core). */
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openContributorTabs } from '@tabgrid/coordinator/src/cli/workers.js';

export { launchChromium, openContributorTabs };
export type { Browser, Page };

/** What the contributor page reports through window.__tabgrid.status() (the fields tests use). */
export interface TabStatus {
  connection: string;
  tasksDone: number;
  failures: number;
  currentLease: { leaseId: string; jobId: string; chunk: number; rendition: string; stage: string; progress: number } | null;
}

export async function tabStatus(page: Page): Promise<TabStatus | undefined> {
  return page.evaluate(() => (globalThis as unknown as { __tabgrid?: { status(): TabStatus } }).__tabgrid?.status());
}

/** Collects console errors and page errors, so a test can assert there were none. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}
