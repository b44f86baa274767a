/**
 * claimTasks(q, { workerId, limit, policy }) → TaskRow[]
 *
 * Leases up to `limit` queued rungs of one chunk (chunk × rendition tasks
 * whose backoff has passed and whose job is transcoding) to one worker, so
 * the tab decodes that chunk once for all of them: the first claimable task,
 * oldest job first and chunk order within a job, names the chunk; the
 * chunk's other claimable rungs join it. Nothing is claimed when the worker
 * is blocked (quarantined itself, or a new identity from the address of a
 * quarantined worker: workers/worker-table.ts blockedUntil); only tasks whose
 * encoder the worker reported in hello are eligible (a WebCodecs task to a
 * tab that probed WebCodecs: workers/encoder-config.ts runsTaskEncoder; one
 * encoder per job, so a chunk's rungs share it). One statement;
 * `FOR UPDATE SKIP LOCKED` on both picks lets concurrent claimers (other
 * coordinators, other connections) pass over rows being claimed instead of
 * waiting or double-leasing, so two tabs may split a chunk's rungs. Each
 * rung is its own lease: a fresh random token, its attempt number up by one,
 * the attempt logged in task_attempts; from here on each is renewed,
 * completed, failed, reaped and retried on its own. Returns the leased rows
 * (empty when there is no work).
 *
 * claimableExists(q) → boolean
 *
 * Whether any task could be claimed now by a worker that is not blocked: the
 * dispatcher asks this once per round, so that a round over hundreds of idle
 * tabs costs one query when the queue is empty, not one claim per tab.
 *
 * claimOutlook(q, workerId) → { workLeft, blockedUntil }
 *
 * Why a claim came back empty, in one query: nothing claimable is left
 * (workLeft false), or the worker is blocked until `blockedUntil`, or
 * neither (another claimer took the last task meanwhile).
 */
import { type SQL, sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { type TaskRow, taskRowColumns } from '../tasks/task-columns.js';
import { claimableBy } from '../tasks/task-results.js';
import { runsTaskEncoder } from '../workers/encoder-config.js';
import { blockedUntil } from '../workers/worker-table.js';
import type { LeasePolicy } from './types.js';

/** Tasks a worker that is not blocked could lease now (`c`: tasks, `j`: their job); defined once for both statements. */
const claimable: SQL = sql`c.state = 'queued' AND c.available_at <= now() AND j.state = 'transcoding'`;

export async function claimTasks(q: Queryable, opts: { workerId: string; limit: number; policy: LeasePolicy }): Promise<TaskRow[]> {
  /** Tasks (`c`, job `j`) this worker may lease now; both picks below apply it. */
  const eligible = sql`${claimable}
         AND ${blockedUntil(opts.workerId)} IS NULL
         AND ${claimableBy('c', opts.workerId, opts.policy.sameAddressReplicas ?? false)}
         AND ${runsTaskEncoder('c', opts.workerId)}`;
  return rows<TaskRow>(
    q,
    sql`
    WITH head AS MATERIALIZED (
      -- The chunk this claim serves: the first task the worker may lease.
      -- Materialised once (as a subquery the planner may rescan it and
      -- lease more than LIMIT rows: seen LIMIT 2 lease 3).
      SELECT c.job_id, c.chunk_index
        FROM tasks c
        JOIN jobs j ON j.id = c.job_id
       WHERE ${eligible}
       ORDER BY j.created_at, c.chunk_index, c.rendition
       LIMIT 1
         FOR UPDATE OF c SKIP LOCKED
    ), picked AS MATERIALIZED (
      -- Up to LIMIT rungs of that chunk (the head row among them: this
      -- transaction's own lock does not make SKIP LOCKED pass it over).
      SELECT c.id
        FROM tasks c
        JOIN head h ON h.job_id = c.job_id AND h.chunk_index = c.chunk_index
        JOIN jobs j ON j.id = c.job_id
       WHERE ${eligible}
       ORDER BY c.rendition
       LIMIT ${opts.limit}
         FOR UPDATE OF c SKIP LOCKED
    ), claimed AS (
      UPDATE tasks t
         SET state = 'leased',
             attempts = t.attempts + 1,
             lease_token = gen_random_uuid()::text,
             lease_owner = ${opts.workerId},
             lease_expires_at = now() + make_interval(secs => ${opts.policy.ttlSeconds}),
             progress = 0,
             updated_at = now()
        FROM picked
       WHERE t.id = picked.id AND t.state = 'queued'
      RETURNING ${taskRowColumns('t')}
    ), logged AS (
      INSERT INTO task_attempts (task_id, attempt, worker_id)
      SELECT id, attempts, ${opts.workerId} FROM claimed
    )
    SELECT * FROM claimed`,
  );
}

export async function claimableExists(q: Queryable): Promise<boolean> {
  const [row] = await rows<{ any: boolean }>(
    q,
    sql`SELECT EXISTS (SELECT 1 FROM tasks c JOIN jobs j ON j.id = c.job_id WHERE ${claimable}) AS any`,
  );
  return row?.any === true;
}

export async function claimOutlook(q: Queryable, workerId: string): Promise<{ workLeft: boolean; blockedUntil: Date | null }> {
  const [row] = await rows<{ work_left: boolean; blocked_until: Date | string | null }>(
    q,
    sql`SELECT EXISTS (SELECT 1 FROM tasks c JOIN jobs j ON j.id = c.job_id WHERE ${claimable}) AS work_left,
               ${blockedUntil(workerId)} AS blocked_until`,
  );
  return { workLeft: row?.work_left === true, blockedUntil: row?.blocked_until ? new Date(row.blocked_until) : null };
}
