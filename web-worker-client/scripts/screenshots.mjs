#!/usr/bin/env node
/**
 * Screenshots and a quick accessibility pass of the contributor page on a
 * running coordinator, at desktop (1280×800) and phone (360×740) size, light
 * and dark: before Start, working, paused. Submit a clip first so there is work.
 *
 *   node web-worker-client/scripts/screenshots.mjs --url http://127.0.0.1:8000 --out /tmp/shots
 *
 * Also prints the keyboard tab order (with whether each stop shows a focus
 * outline), horizontal overflow at phone width, and console errors.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'coordinator', 'package.json'));
const { chromium } = require('playwright-core');

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const url = arg('--url', 'http://127.0.0.1:8000');
const out = arg('--out', '/tmp/tabgrid-shots');
fs.mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const errors = [];
async function open(viewport, colorScheme, query = '?autostart=0') {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}/contribute/${query}`);
  await page.waitForFunction(() => window.__tabgrid.status().workerId !== null);
  return page;
}
const shot = (page, name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
const working = (page) =>
  page.waitForFunction(() => window.__tabgrid.status().currentLease?.stage === 'transcoding', null, { timeout: 120_000 });

try {
  for (const [label, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 360, height: 740 }],
  ]) {
    for (const scheme of ['light', 'dark']) {
      const page = await open(viewport, scheme);
      await shot(page, `${label}-${scheme}-not-started`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      console.log(`${label} ${scheme}: horizontal overflow ${overflow} px`);
      if (label === 'desktop' && scheme === 'light') {
        const stops = [];
        for (let i = 0; i < 8; i++) {
          await page.keyboard.press('Tab');
          stops.push(
            await page.evaluate(() => {
              const el = document.activeElement;
              const cs = getComputedStyle(el);
              return `${el.tagName.toLowerCase()}${el.dataset.testid ? `[${el.dataset.testid}]` : ''} "${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 24)}" outline ${cs.outlineStyle} ${cs.outlineWidth}`;
            }),
          );
        }
        console.log(`tab order:\n  ${stops.join('\n  ')}`);
        await page.keyboard.press('Shift+Tab');
      }
      await page.click('[data-testid="start"]');
      await working(page);
      await page.waitForTimeout(300);
      await shot(page, `${label}-${scheme}-working`);
      if (scheme === 'light') {
        await page.click('[data-testid="pause"]');
        await shot(page, `${label}-${scheme}-pausing`);
        await page.waitForFunction(() => window.__tabgrid.status().run === 'paused', null, { timeout: 120_000 });
        await shot(page, `${label}-${scheme}-paused`);
      }
      await page.context().close();
    }
  }
} finally {
  await browser.close();
}
console.log(`console errors: ${errors.length}${errors.length ? `\n  ${errors.join('\n  ')}` : ''}`);
console.log(`screenshots in ${out}`);
