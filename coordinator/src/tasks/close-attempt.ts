/**
 * Closing an attempt, defined once. Every statement that ends a lease (accept,
 * fail, expire, release, cancel) ends the task_attempts row of the attempt it
 * ended in the same statement, as a CTE over the rows it changed:
 *
 *   WITH ended AS (UPDATE tasks … RETURNING t.id AS task_id, t.attempts …),
 *        closed AS (${closeAttempts('ended', outcome, reason)})
 *
 * `from` names a CTE with `task_id` and `attempts` columns.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { AttemptOutcome } from '../db/schema.js';

export function closeAttempts(from: string, outcome: AttemptOutcome, reason: string | null): SQL {
  if (!/^[a-z_]+$/.test(from)) throw new Error(`closeAttempts: ${from} is not a CTE name`);
  const cte = sql.raw(from);
  return sql`UPDATE task_attempts a SET ended_at = now(), outcome = ${outcome}, reason = ${reason}
               FROM ${cte}
              WHERE a.task_id = ${cte}.task_id AND a.attempt = ${cte}.attempts AND a.ended_at IS NULL`;
}
