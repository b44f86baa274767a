/**
 * Builds the transcoder harness page (harness/) with Vite, serves it on
 * 127.0.0.1 with the chunks a caller registers and a PUT sink for the
 * segments, and opens it in headless Chromium.
 *
 * startHarness() → { transcode(kind, chunkFile, rungs) → { ms, segments } | { error }, close() }
 * `segments` are files in the harness's scratch folder, one per rung.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EncodeParams } from '@tabgrid/shared';
import { build } from 'vite';
import { type Browser, launchChromium, type Page } from '../support/browser.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export type HarnessKind = 'webcodecs' | 'wasm-x264';
export type HarnessResult = { ms: number; segments: string[] } | { error: { code: string; message: string } };

export interface Harness {
  readonly page: Page;
  /** `abortAfterMs`: the page aborts the call that long after it started. */
  transcode(kind: HarnessKind, chunkFile: string, rungs: readonly EncodeParams[], abortAfterMs?: number): Promise<HarnessResult>;
  probe(): Promise<boolean>;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

export async function startHarness(): Promise<Harness> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'tabgrid-harness-'));
  const dist = path.join(scratch, 'dist');
  await build({
    root: path.join(here, 'harness'),
    logLevel: 'warn',
    worker: { format: 'es' },
    build: { outDir: dist, emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0 },
  });
  const chunks = new Map<string, string>();
  let uploads = 0;
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'PUT' && url.pathname.startsWith('/upload/')) {
        const body: Buffer[] = [];
        for await (const b of req) body.push(b as Buffer);
        await writeFile(path.join(scratch, url.pathname.slice(1).replaceAll('/', '_')), Buffer.concat(body));
        res.writeHead(204).end();
        return;
      }
      const chunk = chunks.get(url.pathname);
      const file = chunk ?? path.join(dist, path.normalize(url.pathname === '/' ? '/index.html' : url.pathname));
      if (!file.startsWith(dist) && !chunk) return void res.writeHead(403).end();
      const data = await readFile(file).catch(() => null);
      if (!data) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(data);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser: Browser = await launchChromium();
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => (globalThis as unknown as { __harness?: { ready: boolean } }).__harness?.ready === true);

  return {
    page,
    async transcode(kind, chunkFile, rungs, abortAfterMs) {
      const n = ++uploads;
      const chunkPath = `/chunks/${n}${path.extname(chunkFile)}`;
      chunks.set(chunkPath, chunkFile);
      await mkdir(scratch, { recursive: true });
      const r = await page.evaluate(
        ([k, c, rs, u, a]) =>
          (
            globalThis as unknown as {
              __harness: {
                run(
                  k: string,
                  c: string,
                  r: unknown,
                  u: string,
                  a: number | undefined,
                ): Promise<{ ms: number; sizes: number[] } | { error: { code: string; message: string } }>;
              };
            }
          ).__harness.run(k, c, rs, u, a),
        [kind, `${origin}${chunkPath}`, rungs, `${origin}/upload/${n}`, abortAfterMs] as const,
      );
      chunks.delete(chunkPath);
      if ('error' in r) return r;
      return { ms: r.ms, segments: r.sizes.map((_, i) => path.join(scratch, `upload_${n}_${i}`)) };
    },
    probe: () => page.evaluate(() => (globalThis as unknown as { __harness: { probe(): Promise<boolean> } }).__harness.probe()),
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
