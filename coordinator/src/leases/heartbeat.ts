/**
 * renewLeases(q, { leases, progress, policy }) → ids of the leases renewed
 *
 * A tab's heartbeat for one batch (the rungs of a chunk it encodes
 * together): extends each lease by the TTL and records the batch's progress,
 * each only while its own token is the task's current one and the task is
 * still leased. One statement whatever the batch size. A lease missing from
 * the result was lost (expired and re-leased, finished, or canceled); the
 * others were renewed.
 *
 * renewLease(q, { taskId, token, progress, policy }) → void
 *
 * The same for one lease; throws LeaseLostError when it was lost.
 */
import { sql } from 'drizzle-orm';
import { rows, type Queryable } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import type { LeasePolicy } from './types.js';

/** Lease ids are task ids and tokens are UUIDs we issued; anything else cannot match and must not reach the comma split. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function renewLeases(
  q: Queryable,
  opts: { leases: readonly { leaseId: string; token: string }[]; progress: number; policy: LeasePolicy },
): Promise<string[]> {
  const leases = opts.leases.filter((l) => UUID.test(l.leaseId) && UUID.test(l.token));
  if (leases.length === 0) return [];
  // Two comma-joined parameters unnested side by side pair each id with its own token.
  const renewed = await rows<{ id: string }>(
    q,
    sql`
    UPDATE tasks t
       SET lease_expires_at = now() + make_interval(secs => ${opts.policy.ttlSeconds}),
           progress = ${opts.progress},
           updated_at = now()
      FROM (SELECT unnest(string_to_array(${leases.map((l) => l.leaseId).join(',')}, ',')) AS id,
                   unnest(string_to_array(${leases.map((l) => l.token).join(',')}, ',')) AS token) beat
     WHERE t.id = beat.id AND t.lease_token = beat.token AND t.state = 'leased'
    RETURNING t.id`,
  );
  return renewed.map((r) => r.id);
}

export async function renewLease(
  q: Queryable,
  opts: { taskId: string; token: string; progress: number; policy: LeasePolicy },
): Promise<void> {
  const renewed = await renewLeases(q, {
    leases: [{ leaseId: opts.taskId, token: opts.token }],
    progress: opts.progress,
    policy: opts.policy,
  });
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
