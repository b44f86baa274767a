/**
 * The `workers` table: a row per volunteer tab (its session, statistics and
 * quarantine). Every statement that writes it lives here; the volunteers
 * view reads it in views/worker-views.ts.
 *
 * A row's id is issued by the coordinator (ws/credentials.ts), never chosen
 * by the tab, and `address` is where its current or last session came from
 * (ws/client-address.ts: an IPv4 address, or an IPv6 /64).
 */
import { type SQL, sql } from 'drizzle-orm';
import type { BackoffPolicy, Capabilities } from '@tabgrid/shared';
import { type Queryable, rows } from '../db/client.js';

/** Failures in a row after which a worker gets no work for a while. */
export const QUARANTINE_AFTER = 3;
/** The first quarantine is 30 s; each further failure in a row doubles it, up to 10 minutes. */
export const QUARANTINE_BACKOFF: BackoffPolicy = { initialMs: 30_000, maxMs: 600_000, jitter: 'none' };

/**
 * openSession(q, { workerId, name, capabilities, coordinatorId, address }) →
 * the session's connected_at. Creates the worker or takes its row over (a tab
 * that reconnects with its credential, here or on another coordinator).
 * connected_at is kept to the millisecond so the JS Date handed back matches
 * it exactly: closeSession uses it to end only this session.
 */
export async function openSession(
  q: Queryable,
  opts: { workerId: string; name: string | null; capabilities: Capabilities; coordinatorId: string; address: string },
): Promise<Date | undefined> {
  const [session] = await rows<{ connected_at: Date }>(
    q,
    sql`
    INSERT INTO workers (id, name, capabilities, coordinator_id, connected_at, last_seen_at, disconnected_at, address)
    VALUES (${opts.workerId}, ${opts.name}, ${JSON.stringify(opts.capabilities)}::jsonb, ${opts.coordinatorId},
            date_trunc('milliseconds', clock_timestamp()), now(), NULL, ${opts.address})
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, capabilities = EXCLUDED.capabilities,
      coordinator_id = EXCLUDED.coordinator_id, connected_at = EXCLUDED.connected_at, last_seen_at = now(), disconnected_at = NULL,
      address = EXCLUDED.address
    RETURNING connected_at`,
  );
  return session?.connected_at;
}

/**
 * closeSession(q, { workerId, connectedAt }) → void. Marks the worker gone,
 * only if `connectedAt` is still its session: it may already have
 * reconnected, here or to another coordinator.
 */
export async function closeSession(q: Queryable, opts: { workerId: string; connectedAt: Date }): Promise<void> {
  await q.execute(sql`UPDATE workers SET disconnected_at = now() WHERE id = ${opts.workerId} AND connected_at = ${opts.connectedAt}`);
}

/**
 * Until when `workerId` may claim nothing (a timestamptz, NULL when it may
 * claim now), as an SQL expression, so the claim (leases/claim.ts) and the
 * dispatcher's question "why did it get nothing" (claimOutlook) apply
 * one rule. A worker is blocked while it is quarantined itself, and also, if
 * it has never had a segment accepted, while another worker from its address
 * is: a quarantined tab cannot dodge its quarantine by coming back as a new
 * identity, while established tabs behind the same NAT keep working.
 */
export function blockedUntil(workerId: string): SQL {
  return sql`(SELECT max(b.until) FROM (
      SELECT w.quarantined_until AS until FROM workers w WHERE w.id = ${workerId} AND w.quarantined_until > now()
      UNION ALL
      SELECT q.quarantined_until FROM workers me JOIN workers q ON q.address = me.address AND q.id <> me.id
       WHERE me.id = ${workerId} AND me.tasks_done = 0 AND q.quarantined_until > now()
    ) b)`;
}

/**
 * pruneIdleWorkers(q, { olderThanSeconds }) → how many rows were deleted.
 * Workers that never finished, failed or held a task and left long ago:
 * every tab that ever said hello without a credential has a row, and they
 * must not pile up. Rows with a history (counts, quarantine, attempts) stay.
 */
export async function pruneIdleWorkers(q: Queryable, opts: { olderThanSeconds: number }): Promise<number> {
  const deleted = await rows<{ id: string }>(
    q,
    sql`
    DELETE FROM workers w
     WHERE w.disconnected_at < now() - make_interval(secs => ${opts.olderThanSeconds})
       AND w.tasks_done = 0 AND w.tasks_failed = 0 AND w.quarantined_until IS NULL
       AND NOT EXISTS (SELECT 1 FROM task_attempts a WHERE a.worker_id = w.id)
       AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.lease_owner = w.id)
    RETURNING w.id`,
  );
  return deleted.length;
}

/** recordSuccess(q, workerId) → void. One accepted segment: counted, and any quarantine lifted. */
export async function recordSuccess(q: Queryable, workerId: string): Promise<void> {
  await q.execute(sql`
    UPDATE workers SET tasks_done = tasks_done + 1, consecutive_failures = 0, quarantined_until = NULL, last_seen_at = now()
     WHERE id = ${workerId}`);
}

/**
 * recordFailure(q, workerId) → { consecutive_failures, quarantined_until }
 * (undefined for an unknown worker). After QUARANTINE_AFTER failures in a
 * row the worker gets no work for a while (QUARANTINE_BACKOFF).
 */
export async function recordFailure(
  q: Queryable,
  workerId: string,
): Promise<{ consecutive_failures: number; quarantined_until: Date | null } | undefined> {
  const [row] = await rows<{ quarantined_until: Date | null; consecutive_failures: number }>(
    q,
    sql`
    UPDATE workers
       SET tasks_failed = tasks_failed + 1,
           consecutive_failures = consecutive_failures + 1,
           quarantined_until = CASE WHEN consecutive_failures + 1 >= ${QUARANTINE_AFTER}::int
             THEN now() + make_interval(secs => least(${QUARANTINE_BACKOFF.maxMs / 1000}::int,
                    ${QUARANTINE_BACKOFF.initialMs / 1000}::int * power(2, consecutive_failures + 1 - ${QUARANTINE_AFTER}::int))::int)
             ELSE quarantined_until END
     WHERE id = ${workerId}
    RETURNING quarantined_until, consecutive_failures`,
  );
  return row;
}
