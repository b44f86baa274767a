/** `tabgrid submit FILE [--wait]`: uploads a video and, with --wait, follows the job with a progress bar. */
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiRequestError,
  TERMINAL_JOB_STATES,
  type ApiClient,
  type JobEncoderSetting,
  type JobView,
  type RenditionName,
} from '@tabgrid/shared';

/** What to do about a 401 from the CLI. */
export const TOKEN_HINT = "Set TABGRID_TOKEN to the coordinator's ADMIN_TOKEN";

/** How long --wait keeps asking a coordinator that does not answer. */
const UNREACHABLE_LIMIT_MS = 5 * 60_000;

function bar(done: number, total: number, width = 30): string {
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** No answer, or a server-side failure: what a coordinator restarting (its state is in the database) looks like for a while. */
function isTransient(e: unknown): boolean {
  return e instanceof ApiRequestError && (e.status === 0 || e.status >= 500);
}

export async function runSubmit(
  api: ApiClient,
  opts: { file: string; wait: boolean; renditions: readonly RenditionName[] | undefined; encoder?: JobEncoderSetting | undefined },
): Promise<number> {
  const info = await stat(opts.file).catch(() => null);
  if (!info?.isFile()) throw new Error(`${opts.file} is not a readable file`);
  const filename = path.basename(opts.file);
  process.stderr.write(`uploading ${filename} (${(info.size / 1e6).toFixed(1)} MB) to ${api.baseUrl} …\n`);
  // openAsBlob reads from disk as the request is sent: the file is never whole in memory.
  const body = await openAsBlob(opts.file);
  const { id } = await api
    .submitFile(body, {
      filename,
      ...(opts.renditions ? { renditions: opts.renditions } : {}),
      ...(opts.encoder ? { encoder: opts.encoder } : {}),
    })
    .catch((e: unknown) => {
      if (e instanceof ApiRequestError && e.status === 401) throw new Error(`upload refused: ${e.message}. ${TOKEN_HINT}`);
      if (e instanceof ApiRequestError && e.status !== 0) throw new Error(`upload refused: ${e.message}`);
      throw e;
    });
  console.log(`job ${id}`);
  if (!opts.wait) return 0;

  let job: JobView;
  const tty = process.stderr.isTTY;
  let unreachableSince: number | undefined;
  for (;;) {
    try {
      job = await api.getJob(id);
    } catch (e) {
      if (!isTransient(e)) throw new Error(`could not read job ${id}: ${(e as Error).message}`);
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > UNREACHABLE_LIMIT_MS)
        throw new Error(`the coordinator at ${api.baseUrl} has not answered for 5 minutes`);
      process.stderr.write(tty ? '\r(coordinator unreachable, retrying …)   ' : 'coordinator unreachable, retrying …\n');
      await sleep(2000);
      continue;
    }
    unreachableSince = undefined;
    const line = `${bar(job.progress.done, job.progress.total)} ${job.progress.done}/${job.progress.total} ${job.state}`;
    process.stderr.write(tty ? `\r${line}   ` : `${line}\n`);
    if (TERMINAL_JOB_STATES.includes(job.state)) break;
    await sleep(1000);
  }
  if (tty) process.stderr.write('\n');
  if (job.state !== 'done') {
    console.error(`job ${job.state}${job.error ? `: ${job.error}` : ''}`);
    return 1;
  }
  for (const o of job.outputs) {
    const url = new URL(o.url, api.baseUrl).toString();
    console.log(`${o.rendition}\t${o.width}x${o.height}\t${url}`);
  }
  return 0;
}
