/**
 * The coordinator's HTTP surface: the public API, health, the storage
 * gateway (embedded storage only) and the two web apps. Every error leaves
 * as `{ error: { code, message } }`; the status comes from the error's class
 * (routes/http-errors.ts), and only unexpected errors are logged as failures.
 */
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { TabgridError } from './errors.js';
import type { PipelineContext } from './pipeline/context.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { httpHeadersOf, httpStatusOf } from './routes/http-errors.js';
import { jobRoutes } from './routes/jobs.js';
import { mountStaticSites } from './routes/static-sites.js';
import { workerRoutes } from './routes/workers.js';

export interface AppOptions {
  /** The embedded storage's signature-checking gateway, mounted at `path`. */
  readonly storageGateway?: { readonly path: string; readonly app: Hono };
}

export function createApp(ctx: PipelineContext, opts: AppOptions = {}) {
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.onError((err, c) => {
    // Hono's own (a malformed body it parsed for us, …): keep its status.
    if (err instanceof HTTPException) {
      return c.json({ error: { code: err.status === 400 ? 'bad_request' : 'http_error', message: err.message } }, err.status);
    }
    const status = httpStatusOf(err);
    if (status !== 500 && err instanceof TabgridError) {
      return c.json({ error: { code: err.code, message: err.message } }, status, httpHeadersOf(err));
    }
    const code = err instanceof TabgridError ? err.code : 'internal';
    ctx.logger.error({ err, path: c.req.path, method: c.req.method }, 'request failed');
    return c.json({ error: { code, message: `internal error: ${err.message}` } }, 500);
  });

  app.route('/healthz', healthRoutes(ctx));
  app.route('/api/jobs', jobRoutes(ctx));
  app.route('/api/events', eventRoutes(ctx));
  app.route('/api/workers', workerRoutes(ctx));
  app.all('/api/*', (c) => c.json({ error: { code: 'not_found', message: `no API route ${c.req.method} ${c.req.path}` } }, 404));
  if (opts.storageGateway) app.route(opts.storageGateway.path, opts.storageGateway.app);
  mountStaticSites(app);
  return app;
}
