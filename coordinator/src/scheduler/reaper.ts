/**
 * The lease reaper: every sixth of the lease TTL, expires the leases whose
 * tabs stopped heartbeating (scheduler.reap: back to the queue, or dead after
 * MAX_ATTEMPTS; the tabs holding them, on any coordinator, are told to stop).
 * Time is what expires a lease, so this is a timer, not a wake-up; several
 * coordinators may reap at once (SKIP LOCKED).
 *
 * After the database was unreachable, tabs could not renew their leases
 * either: once it answers again, the reaper gives them one full TTL to
 * heartbeat before expiring anything (otherwise every lease out would expire
 * at once, and every tab's work would be thrown away).
 */
import { type Db, pingDatabase } from '../db/client.js';
import type { LeasePolicy } from '../leases/types.js';
import type { Logger } from '../logger.js';
import type { TaskScheduler } from './task-scheduler.js';

export interface Reaper {
  stop(): void;
}

export function startReaper(deps: { db: Db; scheduler: TaskScheduler; policy: LeasePolicy; logger: Logger }): Reaper {
  const log = deps.logger.child({ component: 'reaper' });
  const ttlMs = deps.policy.ttlSeconds * 1000;
  let databaseDown = false;
  let graceUntil = 0;
  let running = false;

  async function tick(): Promise<void> {
    if (databaseDown) {
      await pingDatabase(deps.db);
      databaseDown = false;
      graceUntil = Date.now() + ttlMs;
      log.info({ graceSeconds: deps.policy.ttlSeconds }, 'database reachable again; expiring no lease until tabs could renew theirs');
      return;
    }
    if (Date.now() < graceUntil) return;
    try {
      await deps.scheduler.reap();
    } catch (err) {
      databaseDown = true;
      log.warn({ err: (err as Error).message }, 'reaper failed (database unavailable?); will retry');
    }
  }

  const timer = setInterval(
    () => {
      if (running) return;
      running = true;
      tick()
        .catch(() => undefined) // the database is still down; the next tick asks again
        .finally(() => {
          running = false;
        });
    },
    Math.max(1000, ttlMs / 6),
  );
  return { stop: () => clearInterval(timer) };
}
