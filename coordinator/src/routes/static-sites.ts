/**
 * Serves the built contributor page at /contribute/ and the dashboard at /.
 * `pnpm start` builds them first; when a build is missing the page says how
 * to make it instead of a bare 404.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Env, Hono } from 'hono';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CONTRIBUTE_DIST = path.join(repoRoot, 'web-worker-client', 'dist');
export const DASHBOARD_DIST = path.join(repoRoot, 'dashboard', 'dist');

function notBuilt(what: string, pkg: string) {
  return `<!doctype html><title>tabgrid</title><p>The ${what} is not built yet. Run <code>pnpm start</code> (it builds what is missing) or <code>pnpm --filter ${pkg} build</code>.</p>`;
}

// Hashed asset names never change content, so they may be cached for long; pages may not.
const cacheHeaders = (file: string, c: { header: (k: string, v: string) => void }) =>
  c.header('Cache-Control', /[/\\]assets[/\\]/.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache');

export function mountStaticSites<E extends Env>(app: Hono<E>): void {
  app.get('/contribute', (c) => c.redirect('/contribute/'));
  // Cross-origin isolation lets a volunteer choose the multi-thread wasm core
  // (SharedArrayBuffer). Everything the page loads is same-origin or CORS
  // (presigned storage URLs), so isolation costs nothing here.
  app.use('/contribute/*', async (c, next) => {
    await next();
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Embedder-Policy', 'require-corp');
  });
  app.use(
    '/contribute/*',
    serveStatic({ root: CONTRIBUTE_DIST, rewriteRequestPath: (p) => p.replace(/^\/contribute/, ''), onFound: cacheHeaders }),
  );
  app.get('/contribute/*', (c) =>
    c.html(notBuilt('contributor page', '@tabgrid/web-worker-client'), existsSync(CONTRIBUTE_DIST) ? 404 : 503),
  );
  app.use('/*', serveStatic({ root: DASHBOARD_DIST, onFound: cacheHeaders }));
  // Client-side routes of the dashboard fall back to its index.html.
  app.get('/*', serveStatic({ root: DASHBOARD_DIST, rewriteRequestPath: () => '/index.html', onFound: cacheHeaders }));
  app.get('/*', (c) => c.html(notBuilt('dashboard', '@tabgrid/dashboard'), 503));
}
