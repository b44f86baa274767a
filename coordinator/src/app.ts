/**
 * The coordinator's HTTP surface: the public API, health, the storage
 * gateway (embedded storage only) and the two web apps. Every error leaves
 * as `{ error: { code, message } }`; the status comes from the error's class
 * (routes/http-errors.ts), and only unexpected errors are logged as failures.
 *
 * The perimeter, in the order a request meets it (http/):
 *   1. security headers on every answer, errors included;
 *   2. the Host allow-list (421 otherwise): DNS rebinding;
 *   3. on /api state changes: non-simple requests from our own origin only (403): CSRF;
 *   4. on /api but /api/session and /api/shared/…: the operator token or session (401).
 * /healthz, the web apps, /contribute/, the storage gateway (which checks
 * presigned URLs itself) and the WebSocket (not an HTTP route here) need no login.
 */
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { TabgridError } from './errors.js';
import { createOperatorAuth, type OperatorAuth } from './http/auth.js';
import { csrfGuard } from './http/csrf.js';
import { createHostAllowList, hostCheck } from './http/host-allow-list.js';
import { securityHeaders } from './http/security-headers.js';
import { createShareLinks, type ShareLinks } from './http/share-links.js';
import type { PipelineContext } from './pipeline/context.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { httpHeadersOf, httpStatusOf } from './routes/http-errors.js';
import { jobRoutes } from './routes/jobs.js';
import { sessionRoutes } from './routes/session.js';
import { sharedRoutes } from './routes/shared.js';
import { mountStaticSites } from './routes/static-sites.js';
import { workerRoutes } from './routes/workers.js';

export interface AppOptions {
  /** The embedded storage's signature-checking gateway, mounted at `path`. */
  readonly storageGateway?: { readonly path: string; readonly app: Hono };
  /** Tests: another operator authentication (a fake clock, a tighter limiter). */
  readonly auth?: OperatorAuth;
  /** Tests: share links with a fake clock. */
  readonly shareLinks?: ShareLinks;
  /** Tests: how often an event stream opened with a session checks it is still live. */
  readonly sessionRecheckMs?: number;
}

export function createApp(ctx: PipelineContext, opts: AppOptions = {}) {
  const app = new Hono<{ Bindings: HttpBindings }>();
  const hosts = createHostAllowList(ctx.config);
  const auth = opts.auth ?? createOperatorAuth({ config: ctx.config, db: ctx.db });
  const shareLinks = opts.shareLinks ?? createShareLinks({ db: ctx.db });

  app.onError((err, c) => {
    // Hono's own (a malformed body it parsed for us, …): keep its status.
    if (err instanceof HTTPException) {
      return c.json({ error: { code: err.status === 400 ? 'bad_request' : 'http_error', message: err.message } }, err.status);
    }
    const status = httpStatusOf(err);
    for (const [name, value] of Object.entries(httpHeadersOf(err))) c.header(name, value);
    if (status !== 500 && err instanceof TabgridError) return c.json({ error: { code: err.code, message: err.message } }, status);
    const code = err instanceof TabgridError ? err.code : 'internal';
    ctx.logger.error({ err, path: c.req.path, method: c.req.method }, 'request failed');
    return c.json({ error: { code, message: `internal error: ${err.message}` } }, 500);
  });

  app.use('*', securityHeaders(ctx.config));
  app.use('*', hostCheck(hosts));
  app.use('/api/*', csrfGuard(hosts));
  app.use('/api/*', auth.middleware);

  app.route('/healthz', healthRoutes(ctx));
  app.route('/api/session', sessionRoutes({ auth, logger: ctx.logger }));
  app.route('/api/shared', sharedRoutes(ctx, shareLinks));
  app.route('/api/jobs', jobRoutes(ctx, { shareLinks }));
  app.route('/api/events', eventRoutes(opts.sessionRecheckMs === undefined ? ctx : { ...ctx, sessionRecheckMs: opts.sessionRecheckMs }));
  app.route('/api/workers', workerRoutes(ctx));
  app.all('/api/*', (c) => c.json({ error: { code: 'not_found', message: `no API route ${c.req.method} ${c.req.path}` } }, 404));
  if (opts.storageGateway) app.route(opts.storageGateway.path, opts.storageGateway.app);
  mountStaticSites(app);
  return app;
}
