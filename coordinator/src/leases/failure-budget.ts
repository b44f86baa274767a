/**
 * When an ended lease kills its task: the failure budget, defined once for
 * every statement that ends a lease without success (failLease, the reaper,
 * releases).
 *
 * A task is dead when the attempts that ended without success since the job
 * was last retried, the one ending now included, come from MAX_ATTEMPTS
 * distinct addresses. Workers from one address (any number of identities:
 * identities are free, a new tab gets one) count once, and so do repeated
 * failures of one worker, so a stranger cannot kill a job by failing,
 * abandoning or disconnecting from a task again and again. Every worker has
 * one address (its current or last session's, `workers.address`), so
 * "distinct addresses" is also "distinct workers"; a worker with no known
 * address counts as its own.
 *
 * The price: a chunk that crashes every encoder, on a grid whose tabs all sit
 * behind fewer than MAX_ATTEMPTS addresses, is retried (with the failure
 * backoff, at most a minute apart) until more addresses try it or the job is
 * canceled, rather than failing the job.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { LeasePolicy } from './types.js';

/** Outcomes that count against a task: everything but done and canceled. */
const UNSUCCESSFUL = sql.raw(`('expired', 'failed', 'rejected', 'disconnected')`);

/**
 * The distinct addresses behind the unsuccessful attempts of task `t` since
 * its last retry, counting the attempt `t.attempts` being ended now (its
 * outcome is still NULL in the statement's snapshot). `t` is the alias of the
 * `tasks` row being updated; its SET clauses see the row before the update.
 */
export function countedFailures(t: string): SQL {
  if (!/^[a-z_]+$/.test(t)) throw new Error(`countedFailures: ${t} is not a table alias`);
  const task = sql.raw(t);
  return sql`(SELECT count(DISTINCT coalesce(w.address, 'worker:' || a.worker_id))
       FROM task_attempts a LEFT JOIN workers w ON w.id = a.worker_id
      WHERE a.task_id = ${task}.id AND a.attempt > ${task}.retry_base
        AND (a.attempt = ${task}.attempts OR a.outcome IN ${UNSUCCESSFUL}))`;
}

/** The state a held task of alias `t` goes to when its lease ends without success. */
export function stateAfterFailure(t: string, policy: LeasePolicy): SQL {
  return sql`CASE WHEN ${countedFailures(t)} >= ${policy.maxAttempts} THEN 'dead' ELSE 'queued' END`;
}
