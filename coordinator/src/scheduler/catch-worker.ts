/**
 * A worker caught once (a segment that failed the content check, outvoted by
 * two agreeing replicas, an accepted upload overwritten) is quarantined, and
 * what it left behind in unfinished jobs is redone: its pending results are
 * withdrawn, and every done task that stands on its word alone goes back to
 * the queue (a result an uncaught worker's replica agreed with stands). A job
 * that was already merging goes back to transcoding, in the same
 * transaction, so a merge about to finish finds it moved and publishes
 * nothing. Finished jobs keep what they published.
 */
import type { Db } from '../db/client.js';
import { transitionJob } from '../jobs/job-table.js';
import type { Logger } from '../logger.js';
import type { Notifier } from '../notify/index.js';
import { withdrawAcceptedOf, withdrawPendingOf } from '../tasks/task-results.js';
import { requeueWithdrawn, stopWaitingForReplica } from '../tasks/task-table.js';
import { markCaught } from '../workers/worker-table.js';

export interface CaughtWorker {
  /** Tasks whose pending result was withdrawn. */
  withdrawnPending: number;
  /** Done tasks sent back to the queue. */
  redone: number;
  /** Jobs moved from merging back to transcoding. */
  reopenedJobs: string[];
}

export async function catchWorker(
  deps: { db: Db; notifier: Notifier; logger: Logger },
  opts: { workerId: string; reason: string },
): Promise<CaughtWorker> {
  const why = `its worker ${opts.workerId} was caught: ${opts.reason}`;
  const outcome = await deps.db.transaction(async (tx) => {
    await markCaught(tx, { workerId: opts.workerId, reason: opts.reason });
    const pendingTasks = await withdrawPendingOf(tx, { workerId: opts.workerId, reason: why });
    await stopWaitingForReplica(tx, pendingTasks);
    const hits = await withdrawAcceptedOf(tx, { workerId: opts.workerId, reason: why });
    const requeued = await requeueWithdrawn(tx, { taskIds: hits.map((h) => h.task_id), reason: `redone: ${why}`.slice(0, 2000) });
    const reopenedJobs: string[] = [];
    for (const jobId of new Set(requeued.filter((r) => r.job_state === 'merging').map((r) => r.job_id))) {
      if (await transitionJob(tx, jobId, ['merging'], 'transcoding')) reopenedJobs.push(jobId);
    }
    return { withdrawnPending: pendingTasks.length, redone: requeued.length, reopenedJobs, jobs: new Set(requeued.map((r) => r.job_id)) };
  });
  deps.logger.warn(
    {
      workerId: opts.workerId,
      reason: opts.reason,
      withdrawnPending: outcome.withdrawnPending,
      redone: outcome.redone,
      reopenedJobs: outcome.reopenedJobs,
    },
    'worker caught: quarantined, its unconfirmed results in unfinished jobs are redone',
  );
  deps.notifier.publish({ kind: 'workers' });
  for (const jobId of outcome.jobs) deps.notifier.publish({ kind: 'job', jobId });
  if (outcome.redone > 0 || outcome.withdrawnPending > 0) deps.notifier.publish({ kind: 'work' });
  return { withdrawnPending: outcome.withdrawnPending, redone: outcome.redone, reopenedJobs: outcome.reopenedJobs };
}
