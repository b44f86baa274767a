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
import type { BackoffPolicy, Capabilities, WorkerCensus } from '@tabgrid/shared';
import { type Queryable, rows } from '../db/client.js';
import { deterministicConfigSql } from './encoder-config.js';

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
           -- greatest(): a failure never shortens a longer quarantine (a caught worker's, markCaught below).
           quarantined_until = CASE WHEN consecutive_failures + 1 >= ${QUARANTINE_AFTER}::int
             THEN greatest(quarantined_until, now() + make_interval(secs => least(${QUARANTINE_BACKOFF.maxMs / 1000}::int,
                    ${QUARANTINE_BACKOFF.initialMs / 1000}::int * power(2, consecutive_failures + 1 - ${QUARANTINE_AFTER}::int))::int))
             ELSE quarantined_until END
     WHERE id = ${workerId}
    RETURNING quarantined_until, consecutive_failures`,
  );
  return row;
}

// ---- Trust: replication by reputation (scheduler/replication.ts) and catching liars (scheduler/catch-worker.ts).

/**
 * A worker is trusted once this many of its results were confirmed by an
 * independent replica since it was last caught; before that every result of
 * its is replicated (when a replicator is connected). BOINC's adaptive
 * replication uses the same idea; 10 keeps a new identity replicated for
 * its first ~10 tasks, which costs a new volunteer's first minute of work
 * twice and makes a fresh identity (the cheapest way around a catch) buy
 * nothing.
 */
export const TRUST_AFTER_CONFIRMED = 10;
/** A caught worker gets no work for a day: long enough that catching is not a slap on the wrist, and its results are redone anyway. */
export const CAUGHT_QUARANTINE_SECONDS = 24 * 3600;

export interface WorkerTrust {
  id: string;
  address: string | null;
  capabilities: unknown;
  confirmed_results: number;
  caught_at: Date | string | null;
  /** The worker is quarantined right now (caught, or failing again and again). */
  quarantined: boolean;
}

/** workerTrust(q, workerId, { lock }) → the worker's trust, or undefined for an unknown worker. With `lock`, FOR UPDATE (serialises with markCaught). */
export async function workerTrust(q: Queryable, workerId: string, opts: { lock: boolean }): Promise<WorkerTrust | undefined> {
  const [row] = await rows<WorkerTrust>(
    q,
    sql`SELECT id, address, capabilities, confirmed_results, caught_at, coalesce(quarantined_until > now(), false) AS quarantined
          FROM workers WHERE id = ${workerId} ${opts.lock ? sql`FOR UPDATE` : sql``}`,
  );
  return row;
}

/** recordConfirmed(q, workerIds) → void. Each worker's result was confirmed by an independent replica: one step towards trust. */
export async function recordConfirmed(q: Queryable, workerIds: readonly string[]): Promise<void> {
  if (workerIds.length === 0) return;
  await q.execute(sql`
    UPDATE workers SET confirmed_results = confirmed_results + 1
     WHERE id = ANY(string_to_array(${workerIds.join(',')}, ',')) AND caught_at IS NULL`);
}

/**
 * markCaught(q, { workerId, reason }) → boolean (false for an unknown worker).
 * The worker was caught once: its trust is gone (every result replicated
 * again) and it is quarantined for CAUGHT_QUARANTINE_SECONDS at least.
 * caught_at stays set: a caught worker never vouches for another's result
 * again (tasks/task-results.ts withdrawAcceptedOf).
 */
export async function markCaught(q: Queryable, opts: { workerId: string; reason: string }): Promise<boolean> {
  const changed = await rows<{ id: string }>(
    q,
    sql`UPDATE workers
           SET caught_at = now(), caught_reason = ${opts.reason.slice(0, 2000)}, confirmed_results = 0,
               tasks_failed = tasks_failed + 1,
               quarantined_until = greatest(coalesce(quarantined_until, now()), now() + make_interval(secs => ${CAUGHT_QUARANTINE_SECONDS}))
         WHERE id = ${opts.workerId}
        RETURNING id`,
  );
  return changed.length > 0;
}

/**
 * replicatorAvailable(q, { config, workerId, address, sameAddressOk, exclude }) →
 * boolean: some other connected, unquarantined worker of encoder
 * configuration `config`, not in `exclude` (about to be caught), could
 * confirm a result of `workerId` (from a different address, unless
 * `sameAddressOk`; an unknown address counts as the same).
 */
export async function replicatorAvailable(
  q: Queryable,
  opts: { config: string; workerId: string; address: string | null; sameAddressOk: boolean; exclude?: readonly string[] },
): Promise<boolean> {
  const excluded = [opts.workerId, ...(opts.exclude ?? [])];
  const otherAddress = opts.sameAddressOk
    ? sql`true`
    : sql`(w.address IS NOT NULL AND ${opts.address}::text IS NOT NULL AND w.address <> ${opts.address})`;
  const [row] = await rows<{ ok: boolean }>(
    q,
    sql`SELECT true AS ok FROM workers w
         WHERE w.id <> ALL(string_to_array(${excluded.join(',')}, ',')) AND w.disconnected_at IS NULL
           AND (w.quarantined_until IS NULL OR w.quarantined_until <= now())
           AND ${deterministicConfigSql(sql`w.capabilities`)} = ${opts.config} AND ${otherAddress}
         LIMIT 1`,
  );
  return Boolean(row?.ok);
}

/**
 * encoderCensus(q) → { webcodecs, total }: connected workers that are not
 * quarantined, and how many of them reported WebCodecs in hello. What an
 * `auto` job's encoder is chosen from (shared/src/encoder-choice.ts).
 */
export async function encoderCensus(q: Queryable): Promise<WorkerCensus> {
  const [row] = await rows<{ webcodecs: number | string; total: number | string }>(
    q,
    sql`SELECT count(*) FILTER (WHERE capabilities->'encoders' ? 'webcodecs-h264') AS webcodecs, count(*) AS total
          FROM workers
         WHERE disconnected_at IS NULL AND (quarantined_until IS NULL OR quarantined_until <= now())`,
  );
  return { webcodecs: Number(row?.webcodecs ?? 0), total: Number(row?.total ?? 0) };
}
