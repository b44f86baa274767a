/**
 * The public HTTP API as a user's script calls it: the shared client (each
 * started coordinator has one, `coordinator.api`), plus what only tests need.
 */
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiRequestError,
  TERMINAL_JOB_STATES,
  type ApiClient,
  type CreatedJob,
  type JobState,
  type JobView,
  type JobEncoderSetting,
  type RenditionName,
} from '@tabgrid/shared';

/** Uploads a file from disk, streamed as it is sent, under its own name. */
export async function submitFile(
  api: ApiClient,
  file: string,
  options: { renditions?: readonly RenditionName[]; encoder?: JobEncoderSetting } = {},
): Promise<CreatedJob> {
  return api.submitFile(await openAsBlob(file), { filename: path.basename(file), ...options });
}

/** The ApiRequestError a call is refused with; fails when the call succeeds, or fails some other way. */
export async function refusal(call: Promise<unknown>): Promise<ApiRequestError> {
  const outcome = await call.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if ('value' in outcome) throw new Error(`expected the API to refuse, got ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof ApiRequestError)) throw outcome.error;
  return outcome.error;
}

/** Polls until the job reaches one of `states` (default: any terminal state) or the timeout passes. */
export async function waitForJob(
  api: ApiClient,
  id: string,
  opts: { timeoutMs: number; states?: readonly JobState[]; onPoll?: (job: JobView) => void },
): Promise<JobView> {
  const states = opts.states ?? TERMINAL_JOB_STATES;
  const deadline = Date.now() + opts.timeoutMs;
  let last: JobView | undefined;
  for (;;) {
    try {
      last = await api.getJob(id);
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
