/**
 * Tasks that wait in the queue for a replica that will not come (every
 * possible replicator left, is quarantined or already answered; or
 * REPLICA_WAIT_SECONDS passed) are settled on the content check alone, with
 * the pending result of the most trusted worker (then the oldest), so that a
 * grid that shrinks to one volunteer still finishes. The reaper runs this on
 * its timer (task-scheduler.ts reap). A pending result whose protected copy
 * is gone (a failed job's cleanup deletes unaccepted segments) is withdrawn
 * instead, and the task is simply done again.
 */
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Storage } from '../storage/storage.js';
import { decideResults, pendingResults, type ResultRow, tasksToSettleWithoutReplica } from '../tasks/task-results.js';
import { acceptWithoutReplica, stopWaitingForReplica } from '../tasks/task-table.js';

/** Tasks settled per sweep: the reaper comes back every TTL/6 for the rest. */
const SWEEP_LIMIT = 50;

/** Settles what it can; returns the jobs that had a task accepted, and how many tasks went back to waiting for any worker. */
export async function settleUnreplicated(deps: {
  db: Db;
  storage: Storage;
  logger: Logger;
  sameAddressOk: boolean;
}): Promise<{ settled: Set<string>; reopened: number }> {
  const settled = new Set<string>();
  let reopened = 0;
  for (const taskId of await tasksToSettleWithoutReplica(deps.db, { sameAddressOk: deps.sameAddressOk, limit: SWEEP_LIMIT })) {
    const candidates = [...(await pendingResults(deps.db, taskId))].sort(
      (a, b) => b.confirmed_results - a.confirmed_results || a.attempt - b.attempt,
    );
    const usable: ResultRow[] = [];
    const lost: ResultRow[] = [];
    for (const c of candidates) ((await deps.storage.stat(c.segment_key))?.size === c.segment_size ? usable : lost).push(c);
    const jobId = await deps.db.transaction(async (tx) => {
      await decideResults(tx, {
        taskId,
        attempts: lost.map((c) => c.attempt),
        verdict: 'withdrawn',
        reason: 'its protected copy is gone from storage',
      });
      const chosen = usable[0];
      if (!chosen) {
        await stopWaitingForReplica(tx, [taskId]);
        reopened++;
        return null;
      }
      const done = await acceptWithoutReplica(tx, {
        taskId,
        segment: { key: chosen.segment_key, size: chosen.segment_size, sha256: chosen.segment_sha256 },
      });
      // Claimed by a replica meanwhile: its answer decides.
      if (!done) return null;
      await decideResults(tx, {
        taskId,
        attempts: [chosen.attempt],
        verdict: 'accepted',
        reason: 'no independent replica came: accepted on the content check alone',
      });
      await decideResults(tx, {
        taskId,
        attempts: usable.slice(1).map((c) => c.attempt),
        verdict: 'unused',
        reason: `no replica came; attempt ${chosen.attempt} was accepted`,
      });
      return done.job_id;
    });
    if (jobId) {
      settled.add(jobId);
      deps.logger.info(
        { jobId, taskId, attempt: usable[0]?.attempt, worker: usable[0]?.worker_id },
        'no replica came: accepted on the content check alone',
      );
    }
  }
  return { settled, reopened };
}
