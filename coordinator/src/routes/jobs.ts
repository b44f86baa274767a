/**
 * /api/jobs: upload a video (or give its URL), list jobs, read one job and its chunk grid.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { parseRenditionList } from '@tabgrid/shared';
import { PermanentError } from '../errors.js';
import { cancelJob, deleteJob, retryJob } from '../jobs/lifecycle.js';
import { createJob, getJob, listJobs, listTasksWithHistory, taskProgress } from '../jobs/repository.js';
import { probeSource } from '../media/probe.js';
import type { PipelineContext } from '../pipeline/context.js';
import { workDir } from '../pipeline/context.js';
import { storageKeys } from '../storage/keys.js';
import { hlsRoutes } from './hls.js';
import { toJobView, toTaskViews } from './job-view.js';
import { downloadSource, findOnPath, parseSourceUrl } from './source-url.js';
import { type ReceivedUpload, receiveUpload } from './upload.js';
import type { SourceMetadata } from '../db/schema.js';

const jobIdSchema = z.string().uuid();
const urlJobSchema = z.object({ url: z.string().min(1).max(4096), renditions: z.string().max(200).optional() }).strict();

function parseJobId(raw: string): string {
  const parsed = jobIdSchema.safeParse(raw);
  if (!parsed.success) throw new HTTPException(404, { message: `no job ${raw}` });
  return parsed.data;
}

/** A safe lower-case extension for the storage key, from the uploaded name. */
function extensionOf(filename: string): string {
  const ext = path.extname(filename).slice(1).toLowerCase();
  return /^[a-z0-9]{1,5}$/.test(ext) ? ext : 'bin';
}

export interface JobRouteHooks {
  /** A job was created or restarted: look for server work now. */
  readonly onJobCreated: () => void;
  /** Tell the tabs holding these leases to stop. */
  readonly revokeLeases: (leaseIds: ReadonlySet<string>, reason: string) => void;
}

export function jobRoutes(ctx: PipelineContext, hooks: JobRouteHooks) {
  const app = new Hono<{ Bindings: HttpBindings }>();
  const ytDlp = findOnPath('yt-dlp');

  app.post('/', async (c) => {
    const tmpDir = path.join(ctx.config.dataDir, 'uploads');
    let upload: ReceivedUpload;
    if ((c.req.header('content-type') ?? '').startsWith('application/json')) {
      const parsed = urlJobSchema.safeParse(await c.req.json().catch(() => null));
      if (!parsed.success) {
        const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
        throw new HTTPException(400, { message: `send { "url": "https://…", "renditions"?: "720p,480p" } or a multipart upload (${why})` });
      }
      const body = parsed.data;
      const url = parseSourceUrl(body.url);
      upload = await downloadSource(url, { tmpDir, maxBytes: ctx.config.maxUploadBytes, ytDlp });
      if (body.renditions !== undefined) upload = { ...upload, fields: { renditions: body.renditions } };
    } else {
      upload = await receiveUpload(c.env.incoming, { tmpDir, maxBytes: ctx.config.maxUploadBytes });
    }
    try {
      let renditions = ctx.config.renditions;
      if (upload.fields.renditions) {
        try {
          renditions = parseRenditionList(upload.fields.renditions);
        } catch (err) {
          throw new HTTPException(400, { message: `renditions: ${(err as Error).message}` });
        }
      }
      // Probe before accepting, so a file that is not a video is refused now, in words.
      let probed: SourceMetadata;
      try {
        probed = await probeSource(ctx.tools, upload.path);
      } catch (err) {
        if (err instanceof PermanentError) throw new HTTPException(422, { message: err.message, cause: err });
        throw err;
      }
      if (probed.duration > ctx.config.maxDurationSeconds) {
        throw new HTTPException(422, {
          message: `the video is ${Math.round(probed.duration)} s long, over the limit of ${ctx.config.maxDurationSeconds} s (MAX_DURATION_SECONDS)`,
        });
      }
      const id = randomUUID();
      const ext = extensionOf(upload.filename);
      const sourceKey = storageKeys.source(id, ext);
      await ctx.storage.putFile(sourceKey, upload.path, 'application/octet-stream');
      // Keep the local copy for the first steps rather than downloading it again.
      const dir = workDir(ctx, id);
      await mkdir(dir, { recursive: true });
      await rename(upload.path, path.join(dir, `source.${ext}`));
      const job = await createJob(ctx.db, { id, name: upload.filename.slice(0, 255), renditions, sourceKey, sourceSize: upload.size });
      ctx.logger.info({ jobId: id, name: job.name, bytes: upload.size, renditions }, 'job created');
      hooks.onJobCreated();
      return c.json({ id: job.id, state: job.state }, 201);
    } finally {
      await rm(upload.path, { force: true });
    }
  });

  app.get('/', async (c) => {
    const rows = await listJobs(ctx.db);
    const progress = await taskProgress(
      ctx.db,
      rows.map((j) => j.id),
    );
    return c.json(await Promise.all(rows.map((j) => toJobView(j, progress.get(j.id), ctx.storage))));
  });

  app.get('/:id', async (c) => {
    const job = await getJob(ctx.db, parseJobId(c.req.param('id')));
    if (!job) throw new HTTPException(404, { message: `no job ${c.req.param('id')}` });
    const progress = await taskProgress(ctx.db, [job.id]);
    return c.json(await toJobView(job, progress.get(job.id), ctx.storage));
  });

  app.post('/:id/cancel', async (c) => {
    const id = parseJobId(c.req.param('id'));
    const { revokedLeases } = await cancelJob(ctx.db, id);
    hooks.revokeLeases(new Set(revokedLeases), 'the job was canceled');
    hooks.onJobCreated(); // the runner cleans up
    ctx.logger.info({ jobId: id, revokedLeases: revokedLeases.length }, 'job canceled');
    return c.json({ id, state: 'canceled' });
  });

  app.post('/:id/retry', async (c) => {
    const id = parseJobId(c.req.param('id'));
    await retryJob(ctx.db, id);
    hooks.onJobCreated();
    const job = await getJob(ctx.db, id);
    ctx.logger.info({ jobId: id, state: job?.state }, 'job retried');
    return c.json({ id, state: job?.state });
  });

  app.delete('/:id', async (c) => {
    const id = parseJobId(c.req.param('id'));
    await deleteJob(ctx.db, ctx.storage, id);
    ctx.logger.info({ jobId: id }, 'job deleted');
    return c.body(null, 204);
  });

  app.route('/', hlsRoutes(ctx));

  app.get('/:id/tasks', async (c) => {
    const id = parseJobId(c.req.param('id'));
    if (!(await getJob(ctx.db, id))) throw new HTTPException(404, { message: `no job ${id}` });
    return c.json(toTaskViews(await listTasksWithHistory(ctx.db, id)));
  });

  return app;
}
