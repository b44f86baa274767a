/**
 * /api/jobs: submit a video (an upload, or a URL the coordinator downloads),
 * list jobs, read one job and its chunk grid, cancel, retry, delete, share
 * (a capability URL for one job, served by routes/shared.ts). The
 * work is in jobs/ (intake, lifecycle) and views/; this module only reads
 * the request and shapes the answer.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { jobEncoderSettingSchema, shareRequestSchema } from '@tabgrid/shared';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { smallBody } from '../http/body-limit.js';
import { SHARE_DEFAULT_DAYS, type ShareLinks } from '../http/share-links.js';
import { type ReceivedSource, submitJob } from '../jobs/intake.js';
import { getJob } from '../jobs/job-table.js';
import { cancelJob, deleteJob, retryJob } from '../jobs/lifecycle.js';
import { downloadSource, parseSourceUrl, sourceDownloadOptions } from '../jobs/source-download.js';
import type { PipelineContext } from '../pipeline/context.js';
import { jobView, listJobViews, taskViews } from '../views/job-views.js';
import { hlsRoutes } from './hls.js';
import { readJsonBody, receiveUpload, requestStreamOf, UploadSlots, uploadOptions } from './upload.js';

const jobIdSchema = z.string().uuid();
const urlJobSchema = z
  .object({ url: z.string().min(1).max(4096), renditions: z.string().max(200).optional(), encoder: jobEncoderSettingSchema.optional() })
  .strict();

function parseJobId(raw: string): string {
  const parsed = jobIdSchema.safeParse(raw);
  if (!parsed.success) throw new NotFoundError(`no job ${raw}`);
  return parsed.data;
}

export function jobRoutes(ctx: PipelineContext, deps: { readonly shareLinks: ShareLinks }) {
  const app = new Hono<{ Bindings: HttpBindings }>();
  const uploads = new UploadSlots(ctx.config.uploads.maxConcurrent);

  /** The request's source as a file on local disk, by either way of sending it. */
  async function receiveSource(c: Context<{ Bindings: HttpBindings }>): Promise<ReceivedSource> {
    const tmpDir = path.join(ctx.config.dataDir, 'uploads');
    if (!(c.req.header('content-type') ?? '').startsWith('application/json')) {
      return receiveUpload(requestStreamOf(c.env?.incoming, c.req.raw), uploadOptions(ctx.config, tmpDir));
    }
    // A URL submission is a few hundred bytes: it must come with the headers, not trickle in.
    const body = await readJsonBody(requestStreamOf(c.env?.incoming, c.req.raw), {
      maxBytes: 16 * 1024,
      timeoutMs: ctx.config.httpHeadersTimeoutSeconds * 1000,
    });
    const parsed = urlJobSchema.safeParse(body);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      throw new InvalidRequestError(
        `send { "url": "https://…", "renditions"?: "720p,480p", "encoder"?: "x264" } or a multipart upload (${why})`,
      );
    }
    const { url, renditions, encoder } = parsed.data;
    const source: ReceivedSource = await downloadSource(parseSourceUrl(url), sourceDownloadOptions(ctx.config, tmpDir));
    return {
      ...source,
      fields: { ...(renditions === undefined ? {} : { renditions }), ...(encoder === undefined ? {} : { encoder }) },
    };
  }

  app.post('/', async (c) => {
    // Held from the first byte to the probe's verdict (MAX_CONCURRENT_UPLOADS).
    const release = uploads.acquire();
    try {
      const source = await receiveSource(c);
      try {
        const job = await submitJob(ctx, source);
        return c.json({ id: job.id, state: job.state }, 201);
      } finally {
        await rm(source.path, { force: true });
      }
    } finally {
      release();
    }
  });

  app.get('/', async (c) => c.json(await listJobViews(ctx.db, ctx.storage)));

  app.get('/:id', async (c) => {
    const view = await jobView(ctx.db, ctx.storage, parseJobId(c.req.param('id')));
    if (!view) throw new NotFoundError(`no job ${c.req.param('id')}`);
    return c.json(view);
  });

  app.post('/:id/cancel', async (c) => {
    const id = parseJobId(c.req.param('id'));
    const { revokedLeases } = await cancelJob(ctx, id);
    ctx.logger.info({ jobId: id, revokedLeases: revokedLeases.length }, 'job canceled');
    return c.json({ id, state: 'canceled' });
  });

  app.post('/:id/retry', async (c) => {
    const id = parseJobId(c.req.param('id'));
    const state = await retryJob(ctx, id);
    ctx.logger.info({ jobId: id, state }, 'job retried');
    return c.json({ id, state });
  });

  app.delete('/:id', async (c) => {
    const id = parseJobId(c.req.param('id'));
    await deleteJob(ctx, id);
    ctx.logger.info({ jobId: id }, 'job deleted');
    return c.body(null, 204);
  });

  app.post('/:id/share', smallBody, async (c) => {
    const id = parseJobId(c.req.param('id'));
    const text = await c.req.text();
    let raw: unknown = {};
    try {
      if (text.trim() !== '') raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
    const body = shareRequestSchema.safeParse(raw);
    if (!body.success) throw new InvalidRequestError('send nothing, or { "expiresInDays": 1…90 } as JSON');
    if (!(await getJob(ctx.db, id))) throw new NotFoundError(`no job ${id}`);
    const days = body.data.expiresInDays ?? SHARE_DEFAULT_DAYS;
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + days * 86_400) * 1000);
    const capability = await deps.shareLinks.issue(id, expiresAt);
    // The Host was checked against the allow-list, so the request's own origin is one browsers use.
    const origin = ctx.config.publicUrl ?? new URL(c.req.url).origin;
    ctx.logger.info({ jobId: id, expiresAt }, 'share link created');
    return c.json({ url: `${origin}/share/${capability}`, capability, expiresAt: expiresAt.toISOString() }, 201);
  });

  app.route('/', hlsRoutes(ctx));

  app.get('/:id/tasks', async (c) => {
    const id = parseJobId(c.req.param('id'));
    if (!(await getJob(ctx.db, id))) throw new NotFoundError(`no job ${id}`);
    return c.json(await taskViews(ctx.db, id));
  });

  return app;
}
