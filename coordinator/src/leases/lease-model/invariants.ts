/**
 * The checks after every step (stale tokens refused, invariants that hold
 * whatever the model says, the database equal to the model) and at the end
 * of a run (the drain, every token stale).
 */
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { rows } from '../../db/client.js';
import { LeaseLostError } from '../../errors.js';
import { claimTasks, failLease, type AttemptOutcome } from '../index.js';
import { db } from './database.js';
import { acceptOp, beginOp, failOp, heartbeatOp, runOp, undoOp, type LeaseOp } from './lease-ops.js';
import {
  countedFailures,
  currentLease,
  describeLease,
  DRAINER,
  HELD,
  isCurrent,
  isHeld,
  LEASE_STATES,
  policy,
  task,
  WORKERS,
  type LeaseState,
  type World,
} from './model.js';
import { advanceBackoff, claim, expireAndReap } from './world-ops.js';

interface DbTask {
  id: string;
  state: string;
  attempts: number;
  retry_base: number;
  lease_token: string | null;
  lease_owner: string | null;
  has_expiry: boolean;
  lease_live: boolean;
  backed_off: boolean;
  segment_key: string | null;
}
interface DbAttempt {
  task_id: string;
  attempt: number;
  worker_id: string;
  outcome: string | null;
  ended: boolean;
}

/**
 * Only the newest token of a task is ever accepted: after every step, the
 * newest stale token of each leased, verifying or done task is tried with
 * every token-checked operation, and each must refuse it (and so change
 * nothing). checkAllTokensStale does the same for every token after the drain.
 */
async function probeZombies(w: World): Promise<void> {
  for (const t of w.tasks) {
    // The current token in the hands of another worker (a stranger's `fail`) is refused too.
    const current = currentLease(w, t);
    if (current && isHeld(t)) {
      const stranger = WORKERS.find((id) => id !== current.worker) ?? DRAINER;
      const [result] = await Promise.allSettled([
        failLease(db(), { taskId: t.id, token: current.token, outcome: 'failed', reason: 'foreign', policy, workerId: stranger }),
      ]);
      if (result!.status === 'fulfilled' || !(result!.reason instanceof LeaseLostError)) {
        throw new Error(`failLease by ${stranger} was not refused on ${describeLease(t, current)}`);
      }
    }
    if (!isHeld(t) && t.state !== 'done') continue;
    const zombie = w.issued.filter((l) => l.taskId === t.id && !isCurrent(t, l)).at(-1);
    if (!zombie) continue;
    for (const op of [heartbeatOp, beginOp, undoOp, acceptOp(w, '.zombie'), failOp('failed')] as LeaseOp[]) {
      const [result] = await Promise.allSettled([op.call(zombie)]);
      if (op.accepted(result!, t)) throw new Error(`${op.name} accepted the stale token of ${describeLease(t, zombie)}`);
    }
  }
}

export async function checkInvariants(w: World): Promise<void> {
  await probeZombies(w);
  const dbTasks = await rows<DbTask>(
    db(),
    sql`SELECT id, state, attempts, retry_base, lease_token, lease_owner, lease_expires_at IS NOT NULL AS has_expiry,
               coalesce(lease_expires_at > now(), false) AS lease_live, available_at > now() AS backed_off, segment_key
          FROM tasks WHERE job_id = ${w.jobId}`,
  );
  const dbAttempts = await rows<DbAttempt>(
    db(),
    sql`SELECT a.task_id, a.attempt, a.worker_id, a.outcome, a.ended_at IS NOT NULL AS ended
          FROM task_attempts a JOIN tasks t ON t.id = a.task_id
         WHERE t.job_id = ${w.jobId} ORDER BY a.task_id, a.attempt`,
  );
  expect(dbTasks.map((r) => r.id).sort(), 'the job keeps its tasks').toEqual(w.tasks.map((t) => t.id).sort());

  for (const row of dbTasks) {
    const t = task(w, row.id);
    const at = `task ${t.label}`;
    const history = dbAttempts.filter((a) => a.task_id === row.id);

    // Invariants that hold whatever the model says.
    expect(LEASE_STATES as readonly string[], `${at}: state is one of ${LEASE_STATES.join('/')}`).toContain(row.state);
    const held = HELD.includes(row.state as LeaseState);
    expect(
      { token: row.lease_token !== null, owner: row.lease_owner !== null, expiry: row.has_expiry },
      `${at}: lease fields set iff the task is held (${row.state})`,
    ).toEqual({
      token: held,
      owner: held,
      expiry: held,
    });
    // The failure budget (failure-budget.ts): only failures from distinct addresses count, and maxAttempts of them kill the task.
    const counted = countedFailures(
      history.map((a) => ({ worker: a.worker_id, outcome: a.outcome as AttemptOutcome | null })),
      false,
    );
    expect(counted, `${at}: failures from distinct addresses never exceed maxAttempts`).toBeLessThanOrEqual(policy.maxAttempts);
    expect(row.state === 'dead', `${at}: dead exactly when failures came from maxAttempts distinct addresses`).toBe(
      counted === policy.maxAttempts,
    );
    expect(row.attempts, `${at}: attempts never decrease`).toBeGreaterThanOrEqual(w.seenAttempts.get(row.id) ?? 0);
    w.seenAttempts.set(row.id, row.attempts);
    const accepted = w.seenDone.get(row.id);
    if (accepted !== undefined) {
      expect({ state: row.state, segment: row.segment_key }, `${at}: done is final and its accepted segment is never replaced`).toEqual({
        state: 'done',
        segment: accepted,
      });
    }
    if (row.state === 'done') {
      expect(row.segment_key, `${at}: done has a segment`).toBeTruthy();
      w.seenDone.set(row.id, row.segment_key!);
    } else {
      expect(row.segment_key, `${at}: only done tasks have a segment`).toBeNull();
    }
    expect(
      history.map((a) => a.attempt),
      `${at}: one task_attempts row per attempt`,
    ).toEqual(Array.from({ length: row.attempts }, (_, i) => i + 1));
    for (const a of history) {
      const running = held && a.attempt === row.attempts;
      expect(
        { ended: a.ended, hasOutcome: a.outcome !== null },
        `${at} attempt ${a.attempt}: ended, with an outcome, unless it is the running one`,
      ).toEqual({
        ended: !running,
        hasOutcome: !running,
      });
    }

    // The model.
    expect(
      {
        state: row.state,
        attempts: row.attempts,
        token: row.lease_token,
        owner: row.lease_owner,
        segment: row.segment_key,
        leaseLive: held ? row.lease_live : null,
      },
      `${at}: the database matches the model`,
    ).toEqual({
      state: t.state,
      attempts: t.attempts,
      token: t.token,
      owner: t.owner,
      segment: t.segmentKey,
      leaseLive: held ? !t.expired : null,
    });
    if (row.state === 'queued') expect(row.backed_off, `${at}: in backoff as the model says`).toBe(t.backedOff);
    expect(
      history.map((a) => ({ worker: a.worker_id, outcome: a.outcome })),
      `${at}: the attempt history matches the model`,
    ).toEqual(t.history);
  }
}

/** A well-behaved worker takes everything left, expiring what others hold, until nothing is claimable. */
export async function drain(w: World): Promise<void> {
  w.trace.push('drain');
  for (let round = 0; ; round++) {
    // Each round ends at least one lease or attempt; the attempt budget bounds them.
    expect(round, 'the drain terminates').toBeLessThan(w.tasks.length * policy.maxAttempts * 2 + 5);
    await advanceBackoff(w);
    const got = await claim(w, DRAINER, 3);
    for (const row of got) {
      const l = currentLease(w, task(w, row.id))!;
      expect(await runOp(w, beginOp, l), 'the drainer verifies its own lease').toBe(true);
      expect(await runOp(w, acceptOp(w), l), 'the drainer completes its own lease').toBe(true);
    }
    await checkInvariants(w);
    if (got.length > 0) continue;
    const held = w.tasks.find(isHeld);
    if (!held) break;
    await expireAndReap(w, held);
    await checkInvariants(w);
  }
  expect(await claimTasks(db(), { workerId: DRAINER, limit: 3, policy }), 'nothing left to claim').toEqual([]);
  for (const t of w.tasks) expect(['done', 'dead'], `task ${t.label} after the drain`).toContain(t.state);
}

/** After the drain no token is current: every one ever issued is refused by every operation. */
export async function checkAllTokensStale(w: World): Promise<void> {
  for (const l of w.issued) {
    for (const op of [heartbeatOp, beginOp, undoOp, acceptOp(w, '.late'), failOp('failed')] as LeaseOp[]) {
      const t = task(w, l.taskId);
      const [result] = await Promise.allSettled([op.call(l)]);
      if (op.accepted(result!, t)) throw new Error(`${op.name} accepted a stale token of ${t.label} after the drain (${t.state})`);
    }
  }
  await checkInvariants(w);
}
