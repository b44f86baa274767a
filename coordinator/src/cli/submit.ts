/** `tabgrid submit FILE [--wait]`: uploads a video and, with --wait, follows the job with a progress bar. */
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiErrorSchema, jobViewSchema, TERMINAL_JOB_STATES, type JobView } from '@tabgrid/shared';

async function apiError(res: Response): Promise<string> {
  const text = await res.text();
  try {
    return apiErrorSchema.parse(JSON.parse(text)).error.message;
  } catch {
    return `${res.status} ${res.statusText}: ${text.slice(0, 200)}`;
  }
}

function bar(done: number, total: number, width = 30): string {
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export async function runSubmit(opts: { url: string; file: string; wait: boolean; renditions: string | undefined }): Promise<number> {
  const info = await stat(opts.file).catch(() => null);
  if (!info?.isFile()) throw new Error(`${opts.file} is not a readable file`);
  const form = new FormData();
  if (opts.renditions) form.append('renditions', opts.renditions);
  // openAsBlob reads from disk as the request is sent: the file is never whole in memory.
  form.append('file', await openAsBlob(opts.file), path.basename(opts.file));
  process.stderr.write(`uploading ${path.basename(opts.file)} (${(info.size / 1e6).toFixed(1)} MB) to ${opts.url} …\n`);
  const res = await fetch(`${opts.url}/api/jobs`, { method: 'POST', body: form });
  if (res.status !== 201) throw new Error(`upload refused: ${await apiError(res)}`);
  const { id } = (await res.json()) as { id: string };
  console.log(`job ${id}`);
  if (!opts.wait) return 0;

  let job: JobView;
  const tty = process.stderr.isTTY;
  let unreachableSince: number | undefined;
  for (;;) {
    // The coordinator may restart while we wait (its state is in the database): keep asking for a while.
    const r = await fetch(`${opts.url}/api/jobs/${id}`).catch(() => undefined);
    if (!r || r.status >= 500) {
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > 5 * 60_000) throw new Error(`the coordinator at ${opts.url} has not answered for 5 minutes`);
      process.stderr.write(tty ? '\r(coordinator unreachable, retrying …)   ' : 'coordinator unreachable, retrying …\n');
      await sleep(2000);
      continue;
    }
    unreachableSince = undefined;
    if (!r.ok) throw new Error(`could not read job ${id}: ${await apiError(r)}`);
    job = jobViewSchema.parse(await r.json());
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
    const url = new URL(o.url, opts.url).toString();
    console.log(`${o.rendition}\t${o.width}x${o.height}\t${url}`);
  }
  return 0;
}
