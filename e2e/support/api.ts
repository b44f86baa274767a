/** The public HTTP API, as a user's script would call it. */
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jobViewSchema, taskViewSchema, TERMINAL_JOB_STATES, type JobState, type JobView, type TaskView } from '@tabgrid/shared';

export async function submitFile(url: string, file: string, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', await openAsBlob(file), path.basename(file));
  return fetch(`${url}/api/jobs`, { method: 'POST', body: form });
}

export async function getJob(url: string, id: string): Promise<JobView> {
  const res = await fetch(`${url}/api/jobs/${id}`);
  if (!res.ok) throw new Error(`GET job ${id}: ${res.status} ${await res.text()}`);
  return jobViewSchema.parse(await res.json());
}

export async function getTasks(url: string, id: string): Promise<TaskView[]> {
  const res = await fetch(`${url}/api/jobs/${id}/tasks`);
  if (!res.ok) throw new Error(`GET tasks ${id}: ${res.status}`);
  return taskViewSchema.array().parse(await res.json());
}

/** Polls until the job reaches one of `states` (default: any terminal state) or the timeout passes. */
export async function waitForJob(
  url: string,
  id: string,
  opts: { timeoutMs: number; states?: readonly JobState[]; onPoll?: (job: JobView) => void },
): Promise<JobView> {
  const states = opts.states ?? TERMINAL_JOB_STATES;
  const deadline = Date.now() + opts.timeoutMs;
  let last: JobView | undefined;
  for (;;) {
    try {
      last = await getJob(url, id);
      opts.onPoll?.(last);
      if (states.includes(last.state)) return last;
    } catch {
      // the coordinator may be restarting in failure tests
    }
    if (Date.now() > deadline)
      throw new Error(`job ${id} did not reach ${states.join('|')} within ${opts.timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await sleep(500);
  }
}
