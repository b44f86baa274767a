/**
 * The dispatcher: hands queued tasks to this coordinator's idle tabs, the
 * longest-waiting tab first (fair, and a tab whose lease was just revoked
 * goes to the back instead of getting the same task straight back).
 *
 * A round's cost follows the work, not the tabs. It starts with one cheap
 * query ("is anything claimable?") and ends there when the queue is empty,
 * however many tabs wait; then one claim per task handed out. A claim that
 * comes back empty is asked why, once: nothing claimable any more ends the
 * round; a blocked worker (quarantined, or a new identity from a quarantined
 * address) is passed over until its block ends, so a crowd of them costs
 * nothing on later rounds. A claim leases the tab up to its maxRungs rungs of
 * one chunk (its capabilities say how many it encodes from one decode).
 * Before this, every round ran one claim per idle
 * tab whether or not there was work, and every hello started a round:
 * 200 hellos at once kept PGlite (one connection) busy for ~30 s.
 *
 * Rounds never overlap, and any number of wake-ups (hellos, tabs going idle,
 * `work` from any coordinator) during one make exactly one more (notify/Waker).
 */
import type { Logger } from '../logger.js';
import type { TaskScheduler } from '../scheduler/task-scheduler.js';
import type { WorkerConnection } from './connection.js';

/** A tab that got nothing while work remained, and is not blocked, is asked again after this (e.g. a task it may not take). */
const RETRY_UNSERVED_MS = 5000;
/** A blocked tab is asked again when its block ends, or after this at the latest (a quarantine may be lifted early). */
const MAX_SKIP_MS = 60_000;

export interface DispatchStats {
  /** Queries the round ran: one per claimable check, claim and "why nothing". */
  queries: number;
  assigned: number;
}

export async function dispatchRound(
  scheduler: TaskScheduler,
  connections: Iterable<WorkerConnection>,
  log: Logger,
  now: () => number = Date.now,
): Promise<DispatchStats> {
  const stats: DispatchStats = { queries: 0, assigned: 0 };
  const start = now();
  const waiting = [...connections].filter((c) => c.idle && c.skipUntil <= start).sort((a, b) => a.waitingSince - b.waitingSince);
  if (waiting.length === 0) return stats;
  stats.queries++;
  if (!(await scheduler.hasClaimableWork())) return stats;
  for (const conn of waiting) {
    if (!conn.idle) continue;
    const workerId = conn.workerId!;
    stats.queries++;
    const assignment = await scheduler.assign(workerId, conn.maxRungs);
    if (assignment) {
      if (conn.idle) {
        conn.assign(assignment);
        stats.assigned++;
      } else {
        // The tab left while we claimed: nobody will work on this lease, so it goes back at once, unblamed.
        await scheduler.releaseUnsent(
          workerId,
          assignment.rungs.map((r) => r.token),
        );
      }
      continue;
    }
    stats.queries++;
    const why = await scheduler.whyNothingFor(workerId);
    if (!why.workLeft) return stats;
    const until = why.blockedUntil ? Math.min(why.blockedUntil.getTime(), now() + MAX_SKIP_MS) : now() + RETRY_UNSERVED_MS;
    conn.skipUntil = until;
    if (why.blockedUntil) log.debug({ workerId, until: why.blockedUntil }, 'worker blocked from claiming; passed over until then');
  }
  return stats;
}
