/**
 * What a user can do to a job: cancel it, retry it, delete it. Each checks
 * the job's state, changes it through the state machine, and announces the
 * change (notify/), so every coordinator's tabs, runner and dashboards hear
 * of it at once.
 *
 * cancelJob: any unfinished job → canceled. Its open tasks are canceled in the
 *   same transaction (their attempts closed as 'canceled'), and the tabs
 *   holding leases on them, on any coordinator, are told to stop.
 * retryJob: failed or canceled → runs again. A failed job keeps its accepted
 *   segments and gives its dead tasks a fresh MAX_ATTEMPTS; a canceled job
 *   starts over. Chunks were deleted when the job ended, so it re-splits
 *   (deterministic; tasks already done are kept by insertTasks).
 * deleteJob: an ended job and every object it has, outputs included.
 */
import type { JobState } from '@tabgrid/shared';
import type { Db } from '../db/client.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Notifier } from '../notify/index.js';
import { storageKeys } from '../storage/keys.js';
import type { Storage } from '../storage/storage.js';
import { cancelOpenTasks, deleteTasksOfJob, requeueForRetry } from '../tasks/task-table.js';
import { isTerminalJobState, UNFINISHED_JOB_STATES } from './job-states.js';
import { deleteJobRow, getJob, resetStepsForRetry, transitionJob } from './job-table.js';

export interface LifecycleDeps {
  readonly db: Db;
  readonly notifier: Notifier;
}

export async function cancelJob(deps: LifecycleDeps, id: string): Promise<{ revokedLeases: string[] }> {
  const revokedLeases = await deps.db.transaction(async (tx) => {
    const job = await getJob(tx, id);
    if (!job) throw new NotFoundError(`no job ${id}`);
    if (!(await transitionJob(tx, id, UNFINISHED_JOB_STATES, 'canceled', { error: null }))) {
      throw new ConflictError(`job ${id} has already ended (${job.state}); nothing to cancel`);
    }
    const canceled = await cancelOpenTasks(tx, id);
    return canceled.filter((t) => t.was !== 'queued').map((t) => t.id);
  });
  if (revokedLeases.length > 0) deps.notifier.publish({ kind: 'revoke', leaseIds: revokedLeases, reason: 'the job was canceled' });
  // The runner cleans up; dashboards show it.
  deps.notifier.publish({ kind: 'job', jobId: id });
  return { revokedLeases };
}

export async function retryJob(deps: LifecycleDeps, id: string): Promise<JobState> {
  const next = await deps.db.transaction(async (tx) => {
    const job = await getJob(tx, id);
    if (!job) throw new NotFoundError(`no job ${id}`);
    if (job.state !== 'failed' && job.state !== 'canceled') {
      throw new ConflictError(`only a failed or canceled job can be retried; job ${id} is ${job.state}`);
    }
    // A canceled job's segments were deleted with the cancel: start the chunk work over.
    if (job.state === 'canceled') await deleteTasksOfJob(tx, id);
    else await requeueForRetry(tx, id);
    const to: JobState = job.source && job.ladder ? 'splitting' : 'queued';
    await transitionJob(tx, id, [job.state], to, { error: null });
    await resetStepsForRetry(tx, id);
    return to;
  });
  deps.notifier.publish({ kind: 'job', jobId: id });
  deps.notifier.publish({ kind: 'work' });
  return next;
}

export async function deleteJob(deps: LifecycleDeps & { readonly storage: Storage }, id: string): Promise<void> {
  const job = await getJob(deps.db, id);
  if (!job) throw new NotFoundError(`no job ${id}`);
  if (!isTerminalJobState(job.state)) throw new ConflictError(`job ${id} is ${job.state}; cancel it before deleting it`);
  for (const o of job.outputs) await deps.storage.remove(o.key);
  await deps.storage.removePrefix(storageKeys.jobPrefix(id));
  await deps.storage.removePrefix(storageKeys.deliverablesPrefix(id));
  await deleteJobRow(deps.db, id);
  deps.notifier.publish({ kind: 'job', jobId: id });
}
