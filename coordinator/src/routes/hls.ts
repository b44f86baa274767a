/**
 * /api/jobs/:id/hls/{master,<rendition>,audio}.m3u8: the HLS ladder, served
 * through the coordinator. Segment objects stay private in storage (the
 * embedded gateway and S3 both check signatures), so a stored playlist's
 * relative URIs would not load: each media playlist is rewritten on the way
 * out with a fresh presigned GET per segment and init segment. The master
 * names the media playlists relatively, which resolve back to this route
 * (or to a share link's, routes/shared.ts, which serves the same bodies).
 */
import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { NotFoundError } from '../errors.js';
import { z } from 'zod';
import { getJob, type JobRow } from '../jobs/job-table.js';
import { rewriteMediaPlaylist } from '../media/hls.js';
import type { PipelineContext } from '../pipeline/context.js';
import { storageKeys } from '../storage/keys.js';

/** Long enough to watch a long video paused and resumed; playlists are re-fetched on reload anyway. */
const SEGMENT_URL_SECONDS = 6 * 3600;
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
const PLAYLIST_FILE = /^([a-z0-9]+)\.m3u8$/;

/**
 * The answer to a request for playlist `file` (`master.m3u8`, `720p.m3u8`, …)
 * of `job`; `missing` is thrown when the job has no such playlist.
 */
export async function playlistResponse(
  ctx: PipelineContext,
  c: Context,
  job: JobRow,
  file: string,
  missing: () => Error,
): Promise<Response> {
  const hls = job.deliverables?.hls;
  const name = PLAYLIST_FILE.exec(file)?.[1];
  if (!hls || name === undefined || (name !== 'master' && !hls.playlists.includes(name))) throw missing();
  c.header('Content-Type', PLAYLIST_TYPE);
  c.header('Cache-Control', 'no-store'); // the presigned URLs inside expire
  if (name === 'master') return c.body(await ctx.storage.getBuffer(hls.masterKey).then((b) => b.toString('utf8')));
  const stored = (await ctx.storage.getBuffer(storageKeys.hlsFile(job.id, name, 'index.m3u8'))).toString('utf8');
  return c.body(
    await rewriteMediaPlaylist(stored, async (uri) => {
      if (!/^[A-Za-z0-9_.-]+$/.test(uri)) throw new Error(`unexpected URI ${uri} in stored playlist`);
      return ctx.storage.presignGet(storageKeys.hlsFile(job.id, name, uri), SEGMENT_URL_SECONDS);
    }),
  );
}

export function hlsRoutes(ctx: PipelineContext) {
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.get('/:id/hls/:file', async (c) => {
    const id = z.string().uuid().safeParse(c.req.param('id'));
    const job = id.success ? await getJob(ctx.db, id.data) : null;
    const missing = () => new NotFoundError(`no HLS playlist ${c.req.param('file')} for job ${c.req.param('id')}`);
    if (!job) throw missing();
    return playlistResponse(ctx, c, job, c.req.param('file'), missing);
  });

  return app;
}
