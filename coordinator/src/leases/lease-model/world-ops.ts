/**
 * Operations on many leases (claims, reaps, a tab's hello and disconnect, a
 * coordinator restart) and races of two operations, each checked against the
 * model and then applied to it.
 */
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { rows } from '../../db/client.js';
import {
  claimTasks,
  reapExpiredLeases,
  releaseAllLeases,
  releaseLeases,
  type AttemptOutcome,
  type EndedLease,
  type TaskRow,
} from '../index.js';
import { db, reopenDatabase } from './database.js';
import { heartbeatOp, runOp, type LeaseOp } from './lease-ops.js';
import {
  blocked,
  claimBatch,
  claimable,
  describeLease,
  endAttempt,
  endedRow,
  isHeld,
  policy,
  snapshot,
  task,
  type HeldLease,
  type ModelTask,
  type World,
} from './model.js';

function applyClaim(w: World, worker: string, claimed: readonly TaskRow[]): void {
  for (const row of claimed) {
    const t = task(w, row.id);
    expect(t.state, `claimed ${t.label}`).toBe('queued');
    expect(row, `claimed ${t.label}`).toMatchObject({ state: 'leased', attempts: t.attempts + 1, lease_owner: worker, job_id: w.jobId });
    expect(row.lease_token, 'a fresh token').toBeTruthy();
    expect(
      w.issued.some((l) => l.token === row.lease_token),
      'a token is never handed out twice',
    ).toBe(false);
    t.state = 'leased';
    t.attempts += 1;
    t.token = row.lease_token;
    t.owner = worker;
    t.history.push({ worker, outcome: null });
    w.issued.push({ taskId: t.id, token: row.lease_token!, attempt: t.attempts, worker });
    w.coordinatorView.set(worker, [...(w.coordinatorView.get(worker) ?? []), row.lease_token!]);
  }
  w.trace.push(`  ${worker} got [${claimed.map((r) => task(w, r.id).label).join(', ')}]`);
}

/** How many tasks a worker's claim gets: none while blocked (quarantined, or a new worker at a quarantined address). */
const effectiveLimit = (w: World, worker: string, limit: number) => (blocked(w, worker) ? 0 : limit);

export async function claim(w: World, worker: string, limit: number): Promise<TaskRow[]> {
  const expected = claimBatch(w, effectiveLimit(w, worker, limit)).map((t) => t.id);
  const claimed = await claimTasks(db(), { workerId: worker, limit, policy });
  expect(
    claimed.map((r) => r.id).sort(),
    `${worker} (limit ${limit}${blocked(w, worker) ? ', blocked' : ''}) claims the first claimable chunk's rungs in order`,
  ).toEqual([...expected].sort());
  applyClaim(w, worker, claimed);
  return claimed;
}

/** Tasks a reap or a release ended must be exactly `expected`, each as the model says. */
function applyEnded(w: World, what: string, ended: readonly EndedLease[], expected: readonly ModelTask[], outcome: AttemptOutcome): void {
  w.trace.push(
    `  ${what}: model [${expected.map((t) => t.label).join(', ')}], database [${ended.map((e) => task(w, e.task_id).label).join(', ')}]`,
  );
  expect(ended.map((e) => e.task_id).sort(), `${what} ends exactly the leases the model says`).toEqual(expected.map((t) => t.id).sort());
  for (const e of ended) {
    const t = task(w, e.task_id);
    expect(e, `${t.label} ended by ${what}`).toEqual(endedRow(w, t));
    endAttempt(t, outcome);
  }
}

export const expireInDb = async (w: World, t: ModelTask) => {
  await db().execute(sql`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = ${t.id}`);
  t.expired = true;
  w.trace.push(`  expired ${t.label}`);
};

/** Expire one held lease (or none) and reap: exactly the expired ones come back. */
export async function expireAndReap(w: World, target: ModelTask | undefined): Promise<void> {
  if (target) await expireInDb(w, target);
  const expected = w.tasks.filter((t) => isHeld(t) && t.expired);
  applyEnded(w, 'reapExpiredLeases', await reapExpiredLeases(db(), { policy }), expected, 'expired');
}

async function setConnected(w: World, worker: string, connected: boolean): Promise<void> {
  // What the gateway writes on hello and on close.
  if (connected) await db().execute(sql`UPDATE workers SET disconnected_at = NULL, connected_at = now() WHERE id = ${worker}`);
  else await db().execute(sql`UPDATE workers SET disconnected_at = now() WHERE id = ${worker}`);
  w.connected.set(worker, connected);
}

/**
 * A tab says hello. Resuming: it presents its newest lease, which it keeps
 * only if that is current (renewed). Not resuming: it lost its work, and its
 * leased (not verifying) tasks go back at once.
 */
export async function hello(w: World, worker: string, resume: boolean): Promise<void> {
  await setConnected(w, worker, true);
  if (resume) {
    const newest = w.issued.filter((l) => l.worker === worker).at(-1);
    if (newest) await runOp(w, heartbeatOp, newest);
    return;
  }
  const expected = w.tasks.filter((t) => t.owner === worker && t.state === 'leased');
  const ended = await releaseAllLeases(db(), { workerId: worker, outcome: 'disconnected', reason: 'reloaded', policy });
  applyEnded(w, `releaseAllLeases(${worker})`, ended, expected, 'disconnected');
}

/**
 * A tab's socket closes; after the grace period the coordinator releases the
 * tokens it knows that tab holds (none after a restart). With
 * onlyIfDisconnected, nothing is released if the tab came back meanwhile,
 * perhaps to another coordinator.
 */
export async function disconnect(w: World, worker: string, onlyIfDisconnected: boolean, backElsewhere: boolean): Promise<void> {
  await setConnected(w, worker, false);
  if (backElsewhere) await hello(w, worker, true);
  const tokens = w.coordinatorView.get(worker) ?? [];
  const gone = !onlyIfDisconnected || !w.connected.get(worker);
  const expected = gone ? w.tasks.filter((t) => isHeld(t) && t.owner === worker && t.token !== null && tokens.includes(t.token)) : [];
  const ended = await releaseLeases(db(), {
    workerId: worker,
    tokens,
    outcome: 'disconnected',
    reason: 'worker disconnected',
    policy,
    onlyIfDisconnected,
  });
  applyEnded(w, `releaseLeases(${worker}${onlyIfDisconnected ? ', only if disconnected' : ''})`, ended, expected, 'disconnected');
  w.coordinatorView.delete(worker);
}

export async function restart(w: World): Promise<void> {
  // A coordinator crash: its connections, grace timers and knowledge of who
  // holds what are gone; the workers still hold their leases.
  await reopenDatabase();
  w.coordinatorView = new Map();
}

export async function advanceBackoff(w: World): Promise<void> {
  await db().execute(sql`UPDATE tasks SET available_at = now()`);
  for (const t of w.tasks) t.backedOff = false;
}

// ---- races -----------------------------------------------------------------

/**
 * Two claimers on two connections at once: disjoint, each within its limit
 * and within one chunk, only claimable tasks, and between them the first
 * claimable task (SKIP LOCKED passes over rows, never over all of them).
 * Which rungs each gets depends on the interleaving: one may take a chunk's
 * first rung while the other takes the rest.
 */
export async function raceClaims(w: World, pair: readonly [string, string], limits: readonly [number, number]): Promise<void> {
  const eligible = claimable(w).map((t) => t.id);
  const [a, b] = await Promise.all([0, 1].map((i) => claimTasks(db(), { workerId: pair[i]!, limit: limits[i]!, policy })));
  const all = [...a!, ...b!].map((r) => r.id);
  expect(a!.length, 'claimer A stays within its limit').toBeLessThanOrEqual(effectiveLimit(w, pair[0], limits[0]));
  expect(b!.length, 'claimer B stays within its limit').toBeLessThanOrEqual(effectiveLimit(w, pair[1], limits[1]));
  expect(new Set(all).size, 'no task leased twice by racing claimers').toBe(all.length);
  for (const got of [a!, b!]) expect(new Set(got.map((r) => r.chunk_index)).size, 'a claim is rungs of one chunk').toBeLessThanOrEqual(1);
  expect(
    all.every((id) => eligible.includes(id)),
    'racing claimers take only claimable tasks',
  ).toBe(true);
  const anyone = effectiveLimit(w, pair[0], limits[0]) + effectiveLimit(w, pair[1], limits[1]) > 0;
  if (anyone && eligible.length > 0) expect(all, 'the first claimable task is taken by one of them').toContain(eligible[0]);
  applyClaim(w, pair[0], a!);
  applyClaim(w, pair[1], b!);
}

/**
 * Two operations on one current lease at once, on two connections. The
 * database must end as one of the two serial orders leaves it, with each
 * operation accepted or refused as in that order. A SKIP LOCKED statement
 * (reaper, release) may also pass the row over while the other one holds
 * its lock, even a statement that then changes nothing: as if it ran
 * before the lease expired. That is allowed; anything else is not.
 */
export async function raceOnLease(w: World, ops: readonly [LeaseOp, LeaseOp], t: ModelTask, l: HeldLease): Promise<void> {
  const settled = await Promise.allSettled([ops[0].call(l), ops[1].call(l)]);
  const observed = [ops[0].accepted(settled[0]!, t), ops[1].accepted(settled[1]!, t)];

  const candidates: { order: number[]; accepted: boolean[]; end: ModelTask }[] = [];
  const serial = (order: number[]) => {
    const m = snapshot(t);
    const accepted = [false, false];
    for (const i of order) {
      accepted[i] = ops[i]!.accepts(m, l);
      if (accepted[i]) ops[i]!.transition(m, l);
    }
    candidates.push({ order, accepted, end: m });
  };
  serial([0, 1]);
  serial([1, 0]);
  if (ops[0].skipsLocked) serial([1]);
  if (ops[1].skipsLocked) serial([0]);

  const [row] = await rows<{ state: string; lease_token: string | null; segment_key: string | null }>(
    db(),
    sql`SELECT state, lease_token, segment_key FROM tasks WHERE id = ${t.id}`,
  );
  const match = candidates.find(
    (c) =>
      c.accepted[0] === observed[0] &&
      c.accepted[1] === observed[1] &&
      c.end.state === row!.state &&
      c.end.token === row!.lease_token &&
      c.end.segmentKey === row!.segment_key,
  );
  const describe = (c: (typeof candidates)[number]) =>
    `${c.order.map((i) => ops[i]!.name).join(' then ')}: [${c.accepted}] → ${c.end.state}`;
  w.trace.push(
    `  race ${ops[0].name} ‖ ${ops[1].name} on ${describeLease(t, l)} → accepted [${observed}], task ${row!.state}${match ? ` = ${describe(match)}` : ''}`,
  );
  if (!match) {
    throw new Error(
      `race ${ops[0].name} ‖ ${ops[1].name} on ${describeLease(t, l)}: accepted [${observed}], task ${row!.state}, which no serial order gives (${candidates.map(describe).join('; ')})`,
    );
  }
  for (const i of match.order) {
    if (!match.accepted[i]) continue;
    ops[i]!.check(w, t, l, (settled[i] as PromiseFulfilledResult<unknown>).value);
    ops[i]!.transition(t, l);
  }
  for (const i of match.order) if (match.accepted[i]) await ops[i]!.after?.(w, t);
  // A refused reap or release returns [] (checked by `accepted`); it must not have ended any other lease either.
  for (const i of [0, 1]) {
    const r = settled[i]!;
    if (ops[i]!.skipsLocked && !match.accepted[i] && r.status === 'fulfilled')
      expect(r.value, `${ops[i]!.name} ends nothing else`).toEqual([]);
  }
}
