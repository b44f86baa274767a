/**
 * The coordinator's HTTP surface: the public API, health, the storage
 * gateway (embedded storage only) and the two web apps. Every error leaves
 * as `{ error: { code, message } }` with a fitting status.
 */
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { TabgridError } from './errors.js';
import type { PipelineContext } from './pipeline/context.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes, type JobRouteHooks } from './routes/jobs.js';
import { mountStaticSites } from './routes/static-sites.js';
import { workerRoutes } from './routes/workers.js';

const statusCodes: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  409: 'conflict',
  413: 'too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
};

export function createApp(ctx: PipelineContext, opts: JobRouteHooks & { storageGateway?: { path: string; app: Hono<never> } }) {
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.onError((err, c) => {
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      return c.json({ error: { code: statusCodes[status] ?? 'error', message: err.message } }, status);
    }
    const code = err instanceof TabgridError ? err.code : 'internal';
    ctx.logger.error({ err, path: c.req.path, method: c.req.method }, 'request failed');
    return c.json({ error: { code, message: `internal error: ${err.message}` } }, 500);
  });

  app.route('/healthz', healthRoutes(ctx));
  app.route('/api/jobs', jobRoutes(ctx, opts));
  app.route('/api/events', eventRoutes(ctx));
  app.route('/api/workers', workerRoutes(ctx));
  app.all('/api/*', (c) => c.json({ error: { code: 'not_found', message: `no API route ${c.req.method} ${c.req.path}` } }, 404));
  if (opts.storageGateway) app.route(opts.storageGateway.path, opts.storageGateway.app);
  mountStaticSites(app as unknown as Hono<never>);
  return app;
}
