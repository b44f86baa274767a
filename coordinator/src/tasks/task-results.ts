/**
 * The `task_results` table: every segment that passed the content check,
 * with its decoded frame hashes and verdict (db/schema.ts RESULT_VERDICTS).
 * Every statement that touches it lives here; the replication decision
 * (scheduler/replication.ts) and the catching of a worker
 * (scheduler/catch-worker.ts) compose them in transactions.
 */
import { sql } from 'drizzle-orm';
import type { RenditionName } from '@tabgrid/shared';
import { type Queryable, rows } from '../db/client.js';
import type { ResultVerdict } from '../db/schema.js';
import { deterministicConfigSql } from '../workers/encoder-config.js';

export interface NewResult {
  taskId: string;
  attempt: number;
  workerId: string;
  address: string | null;
  encoderConfig: string | null;
  segmentKey: string;
  segmentSize: number;
  segmentSha256: string;
  framesSha256: string | null;
  frameHashes: string[] | null;
  minSsim: number | null;
  minPsnr: number | null;
  minTilePsnr: number | null;
  verdict: ResultVerdict;
  reason: string | null;
}

/** A result that passed the content check, as the replication decision sees it: with its worker's trust. */
export interface ResultRow {
  task_id: string;
  attempt: number;
  worker_id: string;
  address: string | null;
  encoder_config: string | null;
  segment_key: string;
  segment_size: number;
  segment_sha256: string;
  frames_sha256: string;
  frame_hashes: string[];
  verdict: ResultVerdict;
  /** The worker's confirmed results (0 for a worker row that is gone). */
  confirmed_results: number;
}

/**
 * insertResult(q, result) → void. Records a segment that reached the content
 * check (passed, or refused); a second insert for the same attempt changes
 * nothing (the first one's decision stands).
 */
export async function insertResult(q: Queryable, r: NewResult): Promise<void> {
  await q.execute(sql`
    INSERT INTO task_results (task_id, attempt, worker_id, address, encoder_config, segment_key, segment_size, segment_sha256,
                              frames_sha256, frame_hashes, min_ssim, min_psnr, min_tile_psnr, verdict, reason, decided_at)
    VALUES (${r.taskId}, ${r.attempt}, ${r.workerId}, ${r.address}, ${r.encoderConfig}, ${r.segmentKey}, ${r.segmentSize},
            ${r.segmentSha256}, ${r.framesSha256}, ${r.frameHashes ? JSON.stringify(r.frameHashes) : null}::jsonb, ${r.minSsim}, ${r.minPsnr},
            ${r.minTilePsnr}, ${r.verdict}, ${r.reason}, CASE WHEN ${r.verdict} = 'pending' THEN NULL ELSE now() END)
    ON CONFLICT (task_id, attempt) DO NOTHING`);
}

/**
 * pendingResults(q, taskId) → the task's pending results, oldest first, each
 * locked (FOR UPDATE) so a worker being caught meanwhile waits for the
 * decision that reads them.
 */
export async function pendingResults(q: Queryable, taskId: string): Promise<ResultRow[]> {
  return rows<ResultRow>(
    q,
    sql`SELECT r.task_id, r.attempt, r.worker_id, r.address, r.encoder_config, r.segment_key, r.segment_size, r.segment_sha256,
               r.frames_sha256, r.frame_hashes, r.verdict, coalesce(w.confirmed_results, 0) AS confirmed_results
          FROM task_results r LEFT JOIN workers w ON w.id = r.worker_id
         WHERE r.task_id = ${taskId} AND r.verdict = 'pending'
         ORDER BY r.attempt
           FOR UPDATE OF r`,
  );
}

/** decideResults(q, { taskId, attempts, verdict, reason }) → void. Pending results of the task → `verdict`. */
export async function decideResults(
  q: Queryable,
  opts: { taskId: string; attempts: readonly number[]; verdict: ResultVerdict; reason: string | null },
): Promise<void> {
  if (opts.attempts.length === 0) return;
  await q.execute(sql`
    UPDATE task_results SET verdict = ${opts.verdict}, reason = ${opts.reason}, decided_at = now()
     WHERE task_id = ${opts.taskId} AND verdict = 'pending'
       AND attempt = ANY(string_to_array(${opts.attempts.join(',')}, ',')::int[])`);
}

/**
 * condemnRefused(q, { taskId, passedBy }) → [{ attempt, worker_id, reason }].
 * The task's refused results from workers other than `passedBy`, whose
 * segment of the same chunk just passed: the content was checkable, so those
 * refusals were the workers' own doing. They become `outvoted`; the caller
 * catches their workers.
 */
export async function condemnRefused(
  q: Queryable,
  opts: { taskId: string; passedBy: string },
): Promise<{ attempt: number; worker_id: string; reason: string | null }[]> {
  return rows(
    q,
    sql`UPDATE task_results SET verdict = 'outvoted', decided_at = now(),
                                reason = 'refused by the content check, and another worker''s segment of this chunk passed it: ' || coalesce(reason, '')
         WHERE task_id = ${opts.taskId} AND verdict = 'refused' AND worker_id <> ${opts.passedBy}
        RETURNING attempt, worker_id, reason`,
  );
}

/**
 * passedByAnother(q, { taskId, workerId }) → boolean: a segment of this task
 * from another worker passed the content check, whatever became of it since
 * (a result that passed has its decoded frame hashes; a refused one has none).
 */
export async function passedByAnother(q: Queryable, opts: { taskId: string; workerId: string }): Promise<boolean> {
  const [row] = await rows<{ ok: boolean }>(
    q,
    sql`SELECT true AS ok FROM task_results
         WHERE task_id = ${opts.taskId} AND worker_id <> ${opts.workerId} AND frames_sha256 IS NOT NULL
         LIMIT 1`,
  );
  return Boolean(row?.ok);
}

/** withdrawPendingOf(q, { workerId, reason }) → ids of the tasks whose pending results of this worker were withdrawn. */
export async function withdrawPendingOf(q: Queryable, opts: { workerId: string; reason: string }): Promise<string[]> {
  const changed = await rows<{ task_id: string }>(
    q,
    sql`UPDATE task_results SET verdict = 'withdrawn', reason = ${opts.reason}, decided_at = now()
         WHERE worker_id = ${opts.workerId} AND verdict = 'pending'
        RETURNING task_id`,
  );
  return [...new Set(changed.map((c) => c.task_id))];
}

/**
 * withdrawAcceptedOf(q, { workerId, reason }) → [{ task_id, job_id }]. The
 * worker's results that a done task of an unfinished job (transcoding,
 * merging) stands on with no independent backing: accepted on its word
 * alone, or confirmed only by workers caught since. They become
 * `withdrawn`; the caller requeues the tasks (task-table.ts
 * requeueWithdrawn). A result an uncaught worker's replica agreed with
 * stands: that replica vouches for the frames.
 */
export async function withdrawAcceptedOf(
  q: Queryable,
  opts: { workerId: string; reason: string },
): Promise<{ task_id: string; job_id: string }[]> {
  return rows<{ task_id: string; job_id: string }>(
    q,
    sql`
    WITH hit AS (
      SELECT r.task_id, r.attempt, t.job_id
        FROM task_results r
        JOIN tasks t ON t.id = r.task_id AND t.state = 'done'
        JOIN jobs j ON j.id = t.job_id AND j.state IN ('transcoding', 'merging')
       WHERE r.worker_id = ${opts.workerId} AND r.verdict IN ('accepted', 'confirmed')
         AND NOT EXISTS (
           SELECT 1 FROM task_results o JOIN workers ow ON ow.id = o.worker_id
            WHERE o.task_id = r.task_id AND o.worker_id <> r.worker_id AND o.verdict = 'confirmed'
              AND o.frames_sha256 = r.frames_sha256 AND ow.caught_at IS NULL)
         FOR UPDATE OF r
    )
    UPDATE task_results r SET verdict = 'withdrawn', reason = ${opts.reason}, decided_at = now()
      FROM hit WHERE r.task_id = hit.task_id AND r.attempt = hit.attempt
    RETURNING hit.task_id, hit.job_id`,
  );
}

/** withdrawResult(q, { taskId, segmentKey, reason }) → void. The accepted or confirmed results the task's segment came from → withdrawn. */
export async function withdrawResult(q: Queryable, opts: { taskId: string; segmentKey: string; reason: string }): Promise<void> {
  await q.execute(sql`
    UPDATE task_results SET verdict = 'withdrawn', reason = ${opts.reason}, decided_at = now()
     WHERE task_id = ${opts.taskId} AND segment_key = ${opts.segmentKey} AND verdict IN ('accepted', 'confirmed')`);
}

/**
 * wasSubmittedFrom(q, { taskId, workerId, sha256, size }) → boolean: this
 * worker's segment with exactly this hash and size passed the check for the
 * task and still counts. A tab whose answer was lost sends `complete` again
 * after the task moved on to a replica; it is told yes again.
 */
export async function wasSubmittedFrom(
  q: Queryable,
  opts: { taskId: string; workerId: string; sha256: string; size: number },
): Promise<boolean> {
  const [row] = await rows<{ ok: boolean }>(
    q,
    sql`SELECT true AS ok FROM task_results
         WHERE task_id = ${opts.taskId} AND worker_id = ${opts.workerId} AND segment_sha256 = ${opts.sha256}
           AND segment_size = ${opts.size} AND verdict IN ('pending', 'accepted', 'confirmed', 'unused')
         LIMIT 1`,
  );
  return Boolean(row?.ok);
}

/**
 * submittedAttempts(q, jobId, rendition) → "chunk/attempt" → { worker_id,
 * segment_sha256 } for every result of the rendition: whose upload each
 * attempt key was, and what it held when it was checked.
 */
export async function submittedAttempts(
  q: Queryable,
  jobId: string,
  rendition: RenditionName,
): Promise<Map<string, { worker_id: string; segment_sha256: string }>> {
  const found = await rows<{ chunk_index: number; attempt: number; worker_id: string; segment_sha256: string }>(
    q,
    sql`SELECT t.chunk_index, r.attempt, r.worker_id, r.segment_sha256 FROM task_results r JOIN tasks t ON t.id = r.task_id
         WHERE t.job_id = ${jobId} AND t.rendition = ${rendition} AND r.verdict <> 'refused'`,
  );
  return new Map(found.map((f) => [`${f.chunk_index}/${f.attempt}`, { worker_id: f.worker_id, segment_sha256: f.segment_sha256 }]));
}

/**
 * tasksToSettleWithoutReplica(q, { sameAddressOk, limit }) → task ids. Tasks
 * waiting in the queue for a replica that will not come: past their
 * deadline, or no connected, unquarantined worker of the right encoder
 * configuration could take it (every one already answered, or shares an
 * address with one that did).
 */
export async function tasksToSettleWithoutReplica(q: Queryable, opts: { sameAddressOk: boolean; limit: number }): Promise<string[]> {
  const found = await rows<{ id: string }>(
    q,
    sql`SELECT t.id FROM tasks t
         WHERE t.state = 'queued' AND t.replica_config IS NOT NULL
           AND (t.replica_deadline < now() OR NOT EXISTS (
                 SELECT 1 FROM workers w
                  WHERE w.disconnected_at IS NULL AND (w.quarantined_until IS NULL OR w.quarantined_until <= now())
                    AND ${mayReplicate('t', 'w', opts.sameAddressOk)}))
         ORDER BY t.replica_deadline
         LIMIT ${opts.limit}`,
  );
  return found.map((f) => f.id);
}

const alias = (a: string) => {
  if (!/^[a-z_]+$/.test(a)) throw new Error(`not an alias: ${a}`);
  return sql.raw(a);
};

/**
 * SQL: worker `w` may produce the next result of task `t` (aliases of this
 * code's own statements). Any worker may when the task waits for no
 * replica; otherwise only one of the awaited encoder configuration that has
 * not answered for the task yet, from an address none of those answers
 * came from (unless `sameAddressOk`: a lab or a test on one machine). An
 * unknown address counts as the same address.
 */
export function mayReplicate(taskAlias: string, workerAlias: string, sameAddressOk: boolean): ReturnType<typeof sql> {
  const t = alias(taskAlias);
  const w = alias(workerAlias);
  const sameAddress = sameAddressOk ? sql`false` : sql`(${w}.address IS NULL OR r.address IS NULL OR r.address = ${w}.address)`;
  return sql`(${t}.replica_config IS NULL OR (
      ${deterministicConfigSql(sql`${w}.capabilities`)} = ${t}.replica_config
      AND NOT EXISTS (SELECT 1 FROM task_results r
                       WHERE r.task_id = ${t}.id AND r.verdict = 'pending' AND (r.worker_id = ${w}.id OR ${sameAddress}))))`;
}

/**
 * SQL for claimTasks (leases/claim.ts): the claiming worker may take task
 * `taskAlias` (mayReplicate with the claimer's own row).
 */
export function claimableBy(taskAlias: string, workerId: string, sameAddressOk: boolean): ReturnType<typeof sql> {
  const t = alias(taskAlias);
  return sql`(${t}.replica_config IS NULL OR EXISTS (
      SELECT 1 FROM workers me WHERE me.id = ${workerId} AND ${mayReplicate(taskAlias, 'me', sameAddressOk)}))`;
}
