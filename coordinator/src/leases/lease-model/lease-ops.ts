/**
 * Operations on one lease, each with what the model expects of it, and
 * runOp, which runs one alone and holds the database to the model.
 */
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { rows } from '../../db/client.js';
import { LeaseLostError } from '../../errors.js';
import { storageKeys } from '../../storage/keys.js';
import {
  acceptSegment,
  beginVerification,
  failLease,
  reapExpiredLeases,
  releaseLeases,
  renewLease,
  undoVerification,
  type EndedLease,
  type TaskRow,
} from '../index.js';
import { db } from './database.js';
import {
  describeLease,
  endAttempt,
  endedRow,
  isCurrent,
  isHeld,
  policy,
  task,
  type HeldLease,
  type ModelTask,
  type World,
} from './model.js';

/**
 * One operation on one lease. `accepts` and `transition` are the model (pure,
 * so a race can try both serial orders); `check` compares what the call
 * returned with the model just before the transition.
 */
export interface LeaseOp<R = unknown> {
  readonly name: string;
  accepts(t: ModelTask, l: HeldLease): boolean;
  transition(t: ModelTask, l: HeldLease): void;
  call(l: HeldLease): Promise<R>;
  /** Did the database accept it? false for a LeaseLostError (or the function's own "no"); anything else is thrown. */
  accepted(result: PromiseSettledResult<R>, t: ModelTask): boolean;
  check(w: World, t: ModelTask, l: HeldLease, result: R): void;
  /** Database follow-ups once applied (the backoff check). */
  after?(w: World, t: ModelTask): Promise<void>;
  /** Uses SKIP LOCKED: may pass over a row another statement has locked, even one that then changes nothing. */
  readonly skipsLocked?: boolean;
}

function leaseLost(result: PromiseSettledResult<unknown>): boolean {
  if (result.status === 'fulfilled') return false;
  if (result.reason instanceof LeaseLostError) return true;
  throw result.reason;
}

export const heartbeatOp: LeaseOp<void> = {
  name: 'renewLease',
  accepts: (t, l) => isCurrent(t, l) && t.state === 'leased',
  transition: (t) => {
    t.expired = false;
  },
  call: async (l) => {
    await renewLease(db(), { taskId: l.taskId, token: l.token, progress: 0.5, policy });
  },
  accepted: (r) => !leaseLost(r),
  check: () => {},
};

/** Also from verifying under the same token: a tab re-sends `complete` when the first answer was lost. */
export const beginOp: LeaseOp<TaskRow> = {
  name: 'beginVerification',
  accepts: (t, l) => isCurrent(t, l) && isHeld(t),
  transition: (t) => {
    t.state = 'verifying';
    t.expired = false;
  },
  call: (l) => beginVerification(db(), { taskId: l.taskId, token: l.token, policy }),
  accepted: (r) => !leaseLost(r),
  check: (_w, t, _l, row) =>
    expect(row, 'beginVerification row').toMatchObject({
      id: t.id,
      state: 'verifying',
      attempts: t.attempts,
      lease_token: t.token,
      lease_owner: t.owner,
    }),
};

/** The coordinator could not run the check: back to leased, the tab keeps its result and sends complete again. */
export const undoOp: LeaseOp<boolean> = {
  name: 'undoVerification',
  accepts: (t, l) => isCurrent(t, l) && t.state === 'verifying',
  transition: (t) => {
    t.state = 'leased';
    t.expired = false;
  },
  call: (l) => undoVerification(db(), { taskId: l.taskId, token: l.token, policy }),
  accepted: (r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  },
  check: () => {},
};

/** The segment under the attempt's own key, as the scheduler builds it; `variant` tells racing or duplicate completions apart. */
export function acceptOp(w: World, variant = ''): LeaseOp<{ jobId: string; workerId: string }> {
  const segmentOf = (l: HeldLease) => {
    const t = task(w, l.taskId);
    return {
      key: storageKeys.segment(w.jobId, t.rendition, t.chunk, l.attempt) + variant,
      size: 10,
      sha256: (variant ? 'b' : 'a').repeat(64),
    };
  };
  return {
    name: `acceptSegment${variant}`,
    accepts: (t, l) => isCurrent(t, l) && t.state === 'verifying',
    transition: (t, l) => {
      endAttempt(t, 'done');
      t.segmentKey = segmentOf(l).key;
    },
    call: (l) => acceptSegment(db(), { taskId: l.taskId, token: l.token, segment: segmentOf(l) }),
    accepted: (r) => !leaseLost(r),
    check: (_w, t, _l, result) => expect(result, 'acceptSegment result').toEqual({ jobId: w.jobId, workerId: t.owner }),
  };
}

export function failOp(outcome: 'failed' | 'rejected'): LeaseOp<EndedLease> {
  return {
    name: `failLease(${outcome})`,
    accepts: (t, l) => isCurrent(t, l) && isHeld(t),
    transition: (t) => endAttempt(t, outcome),
    call: (l) => failLease(db(), { taskId: l.taskId, token: l.token, outcome, reason: `${outcome} by ${l.worker}`, policy }),
    accepted: (r) => !leaseLost(r),
    check: (w, t, _l, ended) => expect(ended, 'failLease result').toEqual(endedRow(w, t)),
    after: async (_w, t) => {
      if (t.state === 'queued') await checkBackoffAndPin(t);
    },
  };
}

/** The reaper, as a race partner: it ends the lease if it is expired. */
export const reapOp: LeaseOp<EndedLease[]> = {
  name: 'reapExpiredLeases',
  accepts: (t) => isHeld(t) && t.expired,
  transition: (t) => endAttempt(t, 'expired'),
  call: () => reapExpiredLeases(db(), { policy }),
  accepted: (r, t) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value.some((e) => e.task_id === t.id);
  },
  check: (w, t, _l, ended) => expect(ended, 'reaped').toEqual([endedRow(w, t)]),
  skipsLocked: true,
};

/** The gateway's release after the grace period, as a race partner. */
export const releaseOp: LeaseOp<EndedLease[]> = {
  name: 'releaseLeases',
  accepts: (t, l) => isCurrent(t, l) && isHeld(t) && t.owner === l.worker,
  transition: (t) => endAttempt(t, 'disconnected'),
  call: (l) => releaseLeases(db(), { workerId: l.worker, tokens: [l.token], outcome: 'disconnected', reason: 'gone', policy }),
  accepted: (r, t) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value.some((e) => e.task_id === t.id);
  },
  check: (w, t, _l, ended) => expect(ended, 'released').toEqual([endedRow(w, t)]),
  skipsLocked: true,
};

/**
 * A failed task waits min(60, 2^attempts) s. Checked here, then pinned an
 * hour out so that whether it is claimable never depends on how fast the run
 * goes; only the advance-backoff command (or the drain) releases it.
 */
async function checkBackoffAndPin(t: ModelTask): Promise<void> {
  const [row] = await rows<{ wait: number }>(
    db(),
    sql`SELECT extract(epoch FROM available_at - now())::float8 AS wait FROM tasks WHERE id = ${t.id}`,
  );
  const backoff = Math.min(60, 2 ** t.attempts);
  expect(row!.wait, `backoff of ${t.label} after attempt ${t.attempts}`).toBeGreaterThan(backoff - 2);
  expect(row!.wait, `backoff of ${t.label} after attempt ${t.attempts}`).toBeLessThanOrEqual(backoff);
  await db().execute(sql`UPDATE tasks SET available_at = now() + interval '1 hour' WHERE id = ${t.id}`);
}

/** Runs `op` alone; the database must accept it exactly when the model does. Returns whether it did. */
export async function runOp<R>(w: World, op: LeaseOp<R>, l: HeldLease): Promise<boolean> {
  const t = task(w, l.taskId);
  const expected = op.accepts(t, l);
  w.trace.push(`  ${op.name} ${describeLease(t, l)} → model: ${expected ? 'accept' : 'refuse'}`);
  const [result] = await Promise.allSettled([op.call(l)]);
  const accepted = op.accepted(result!, t);
  if (accepted !== expected) {
    throw new Error(
      `${op.name} on ${describeLease(t, l)}: the model expected it to be ${expected ? 'accepted' : 'refused (LeaseLostError)'}, the database ${accepted ? 'accepted' : 'refused'} it`,
    );
  }
  if (accepted) {
    op.check(w, t, l, (result as PromiseFulfilledResult<R>).value);
    op.transition(t, l);
    await op.after?.(w, t);
  }
  return accepted;
}
