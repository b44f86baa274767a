/**
 * renewLease(q, { taskId, token, progress, policy }) → void
 *
 * Extends a lease by the TTL and records progress, only while the caller's
 * token is the task's current one and the task is still leased.
 * Throws LeaseLostError when zero rows change (expired and re-leased,
 * finished, or canceled).
 */
import { sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import type { LeasePolicy } from './types.js';

export async function renewLease(
  q: Queryable,
  opts: { taskId: string; token: string; progress: number; policy: LeasePolicy },
): Promise<void> {
  const renewed = await rows<{ id: string }>(
    q,
    sql`
    UPDATE tasks
       SET lease_expires_at = now() + make_interval(secs => ${opts.policy.ttlSeconds}),
           progress = ${opts.progress},
           updated_at = now()
     WHERE id = ${opts.taskId} AND lease_token = ${opts.token} AND state = 'leased'
    RETURNING id`,
  );
  if (renewed.length === 0) throw new LeaseLostError(opts.taskId);
}

/**
 * resumeLease(q, { taskId, token, policy, workerId? }) → void
 *
 * A tab that reconnects still holding a lease keeps it if the token is still
 * current (and, with `workerId`, the lease is that worker's), whether the task
 * is leased or already being verified (the coordinator may have died
 * mid-check). Extends the lease; LeaseLostError otherwise.
 */
export async function resumeLease(
  q: Queryable,
  opts: { taskId: string; token: string; policy: LeasePolicy; workerId?: string },
): Promise<void> {
  const ownedBy = opts.workerId === undefined ? sql`` : sql`AND lease_owner = ${opts.workerId}`;
  const resumed = await rows<{ id: string }>(
    q,
    sql`
    UPDATE tasks
       SET lease_expires_at = now() + make_interval(secs => ${opts.policy.ttlSeconds}),
           updated_at = now()
     WHERE id = ${opts.taskId} AND lease_token = ${opts.token} AND state IN ('leased', 'verifying') ${ownedBy}
    RETURNING id`,
  );
  if (resumed.length === 0) throw new LeaseLostError(opts.taskId);
}
