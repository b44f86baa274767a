/**
 * /api/shared/:capability: what a share link shows, read-only, to whoever
 * holds the link (the capability is the credential; no operator login).
 *
 *   GET /api/shared/:capability                → { job, expiresAt }
 *   GET /api/shared/:capability/hls/:file.m3u8 → the job's HLS playlists
 *
 * Nothing else: no other job, no task grid, no workers, no action. Every bad
 * link (malformed, altered, signed by another database, expired, its job
 * deleted) and every missing playlist gets the same 404, so a link that does
 * not work says nothing about why.
 */
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { NotFoundError } from '../errors.js';
import type { ShareLinks } from '../http/share-links.js';
import { getJob } from '../jobs/job-table.js';
import type { PipelineContext } from '../pipeline/context.js';
import { sharedJobView } from '../views/job-views.js';
import { playlistResponse } from './hls.js';

const notShared = () =>
  new NotFoundError('this share link does not work (it may have expired, or its job been deleted): ask for a new one');

export function sharedRoutes(ctx: PipelineContext, links: ShareLinks) {
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.get('/:capability', async (c) => {
    const capability = c.req.param('capability');
    const opened = await links.open(capability);
    const job = opened ? await sharedJobView(ctx.db, ctx.storage, opened.jobId, capability) : undefined;
    if (!opened || !job) throw notShared();
    c.header('Cache-Control', 'no-store');
    return c.json({ job, expiresAt: opened.expiresAt.toISOString() });
  });

  app.get('/:capability/hls/:file', async (c) => {
    const opened = await links.open(c.req.param('capability'));
    const job = opened ? await getJob(ctx.db, opened.jobId) : undefined;
    if (!job) throw notShared();
    return playlistResponse(ctx, c, job, c.req.param('file'), notShared);
  });

  return app;
}
