/**
 * The volunteers view (`GET /api/workers`, the `workers` topic) and the
 * `status` topic, from the `workers` table, the leases in `tasks` and the
 * accepted attempts in `task_attempts`.
 *
 * "Connected" means `disconnected_at IS NULL`: the gateway sets it when a
 * tab's socket closes, so a coordinator killed with -9 leaves its tabs
 * looking connected until they reconnect somewhere (and say hello again).
 */
import { sql } from 'drizzle-orm';
import {
  capabilitiesSchema,
  type RenditionName,
  type StatusSnapshot,
  type TaskState,
  type WorkerTask,
  type WorkersSnapshot,
} from '@tabgrid/shared';
import { rows, type Db } from '../db/client.js';

/** Workers that left longer ago than this drop off the list (their totals stay). */
const RECENT = sql`interval '1 hour'`;
const LISTED_WORKERS = 200;
const THROUGHPUT_MINUTES = 60;

/** Connected workers holding a lease (a tab that dropped keeps its lease for a short grace, but is not working). */
const busyWorkers = sql`SELECT count(DISTINCT t.lease_owner) FROM tasks t JOIN workers w ON w.id = t.lease_owner
                         WHERE t.state IN ('leased', 'verifying') AND w.disconnected_at IS NULL`;

type Time = Date | string;
const iso = (t: Time): string => new Date(t).toISOString();
const isoOrNull = (t: Time | null): string | null => (t === null ? null : iso(t));

/** Changes with any listed worker, any lease, the all-time totals, and each minute (the chart's window moves). */
export async function workersMarker(db: Db): Promise<string> {
  const [row] = await rows<{ marker: string }>(
    db,
    sql`SELECT concat_ws('|',
          (SELECT count(*) || ':' || coalesce(sum(tasks_done), 0) || ':' || coalesce(sum(tasks_failed), 0) FROM workers),
          (SELECT md5(coalesce(string_agg(concat_ws(',', id, name, connected_at, last_seen_at, disconnected_at,
                                                    consecutive_failures, quarantined_until > now()), ';' ORDER BY id), ''))
             FROM workers WHERE disconnected_at IS NULL OR disconnected_at > now() - ${RECENT}),
          (SELECT md5(coalesce(string_agg(concat_ws(',', id, lease_owner, state, attempts, progress), ';' ORDER BY id), ''))
             FROM tasks WHERE lease_owner IS NOT NULL AND state IN ('leased', 'verifying')),
          date_trunc('minute', now())) AS marker`,
  );
  return String(row?.marker ?? '');
}

interface WorkerRow {
  id: string;
  name: string | null;
  capabilities: unknown;
  connected_at: Time;
  last_seen_at: Time;
  disconnected_at: Time | null;
  tasks_done: number;
  tasks_failed: number;
  consecutive_failures: number;
  quarantined_until: Time | null;
  quarantined: boolean;
}

interface LeaseRow {
  lease_owner: string;
  job_id: string;
  job_name: string;
  chunk_index: number;
  rendition: RenditionName;
  state: TaskState;
  attempts: number;
  progress: number;
  started_at: Time | null;
}

export async function workersSnapshot(db: Db): Promise<WorkersSnapshot> {
  const workerRows = await rows<WorkerRow>(
    db,
    sql`SELECT id, name, capabilities, connected_at, last_seen_at, disconnected_at, tasks_done, tasks_failed,
               consecutive_failures, quarantined_until, coalesce(quarantined_until > now(), false) AS quarantined
          FROM workers
         WHERE disconnected_at IS NULL OR disconnected_at > now() - ${RECENT}
         ORDER BY (disconnected_at IS NULL) DESC, connected_at DESC
         LIMIT ${LISTED_WORKERS}`,
  );
  const leases = await rows<LeaseRow>(
    db,
    sql`SELECT t.lease_owner, t.job_id, j.name AS job_name, t.chunk_index, t.rendition, t.state, t.attempts, t.progress, a.started_at
          FROM tasks t
          JOIN jobs j ON j.id = t.job_id
          LEFT JOIN task_attempts a ON a.task_id = t.id AND a.attempt = t.attempts
         WHERE t.lease_owner IS NOT NULL AND t.state IN ('leased', 'verifying')
         ORDER BY t.chunk_index`,
  );
  const [totals] = await rows<{ known: number; connected: number; quarantined: number; done: number; failed: number; busy: number }>(
    db,
    sql`SELECT count(*)::int AS known,
               (count(*) FILTER (WHERE disconnected_at IS NULL))::int AS connected,
               (count(*) FILTER (WHERE quarantined_until > now()))::int AS quarantined,
               coalesce(sum(tasks_done), 0)::int AS done,
               coalesce(sum(tasks_failed), 0)::int AS failed,
               (${busyWorkers})::int AS busy
          FROM workers`,
  );
  const perMinute = await rows<{ ago: number; n: number }>(
    db,
    sql`SELECT (extract(epoch FROM date_trunc('minute', now()) - date_trunc('minute', ended_at)) / 60)::int AS ago, count(*)::int AS n
          FROM task_attempts
         WHERE outcome = 'done' AND ended_at >= date_trunc('minute', now()) - make_interval(mins => ${THROUGHPUT_MINUTES - 1})
         GROUP BY 1`,
  );
  const [clock] = await rows<{ now: Time; minute: Time }>(db, sql`SELECT now() AS now, date_trunc('minute', now()) AS minute`);

  const byWorker = new Map<string, WorkerTask[]>();
  for (const l of leases) {
    const list = byWorker.get(l.lease_owner) ?? [];
    list.push({
      jobId: l.job_id,
      jobName: l.job_name,
      chunk: l.chunk_index,
      rendition: l.rendition,
      state: l.state,
      attempt: l.attempts,
      progress: l.progress,
      startedAt: isoOrNull(l.started_at),
    });
    byWorker.set(l.lease_owner, list);
  }
  const buckets = new Array<number>(THROUGHPUT_MINUTES).fill(0);
  for (const { ago, n } of perMinute) if (ago >= 0 && ago < THROUGHPUT_MINUTES) buckets[THROUGHPUT_MINUTES - 1 - ago] = n;

  return {
    workers: workerRows.map((w) => {
      const caps = capabilitiesSchema.safeParse(typeof w.capabilities === 'string' ? JSON.parse(w.capabilities) : w.capabilities);
      return {
        id: w.id,
        name: w.name,
        capabilities: caps.success ? caps.data : null,
        connected: w.disconnected_at === null,
        connectedAt: iso(w.connected_at),
        lastSeenAt: iso(w.last_seen_at),
        disconnectedAt: isoOrNull(w.disconnected_at),
        tasksDone: w.tasks_done,
        tasksFailed: w.tasks_failed,
        consecutiveFailures: w.consecutive_failures,
        quarantinedUntil: w.quarantined ? isoOrNull(w.quarantined_until) : null,
        current: byWorker.get(w.id) ?? [],
      };
    }),
    totals: {
      known: totals?.known ?? 0,
      connected: totals?.connected ?? 0,
      busy: totals?.busy ?? 0,
      quarantined: totals?.quarantined ?? 0,
      tasksDone: totals?.done ?? 0,
      tasksFailed: totals?.failed ?? 0,
    },
    throughput: { bucketSeconds: 60, perMinute: buckets, end: iso(clock!.minute) },
    serverTime: iso(clock!.now),
  };
}

/** Small enough to be its own marker. */
export async function statusSnapshot(db: Db): Promise<StatusSnapshot> {
  const [row] = await rows<{ connected: number; busy: number; queued: number }>(
    db,
    sql`SELECT (SELECT count(*) FROM workers WHERE disconnected_at IS NULL)::int AS connected,
               (${busyWorkers})::int AS busy,
               (SELECT count(*) FROM tasks t JOIN jobs j ON j.id = t.job_id
                 WHERE t.state = 'queued' AND j.state = 'transcoding')::int AS queued`,
  );
  return { workersConnected: row?.connected ?? 0, workersBusy: row?.busy ?? 0, tasksQueued: row?.queued ?? 0 };
}
