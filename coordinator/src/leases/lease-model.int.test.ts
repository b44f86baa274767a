/**
 * Model-based test of the lease table: fast-check drives random sequences of
 * lease operations through the public functions of `./index.js`, against the
 * real SQL on the real PostgreSQL, and after every step compares the
 * database with an in-memory model and checks invariants that hold whatever
 * the model says. Some steps run two operations on one lease at once, on two
 * connections; the outcome must then be that of one of the two serial orders.
 * After every step the newest stale token of each task is tried with every
 * token-checked operation and must be refused. Every run ends with a drain:
 * a well-behaved worker takes whatever is left until nothing is claimable,
 * and then every task must be done or dead.
 *
 * Worker rows (connected, quarantined), expiry and backoff are set with plain
 * SQL, as the WebSocket gateway, the scheduler and the passing of time would;
 * everything else goes through the lease functions.
 *
 * On failure fast-check prints the seed, the path and the shrunk command list,
 * and the error carries a trace of what each step did and what the model
 * expected. Replay with LEASE_MODEL_SEED=… LEASE_MODEL_PATH=…; run longer
 * with LEASE_MODEL_RUNS=….
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EncodeParams, RenditionName } from '@tabgrid/shared';
import { openDatabase, rows, type Database } from '../db/client.js';
import { jobs, tasks, workers } from '../db/schema.js';
import { openTestDatabase, type TestDatabase } from '../db/test-database.js';
import { LeaseLostError } from '../errors.js';
import { storageKeys } from '../storage/keys.js';
import {
  acceptSegment,
  beginVerification,
  claimTasks,
  failLease,
  reapExpiredLeases,
  releaseAllLeases,
  releaseLeases,
  renewLease,
  undoVerification,
  type AttemptOutcome,
  type EndedLease,
  type LeasePolicy,
  type TaskRow,
} from './index.js';

const policy: LeasePolicy = { ttlSeconds: 30, maxAttempts: 3 };
const WORKERS = ['w0', 'w1', 'w2', 'w3'] as const;
const DRAINER = 'drainer';
const LEASE_STATES = ['queued', 'leased', 'verifying', 'done', 'dead'] as const;
type LeaseState = (typeof LEASE_STATES)[number];
const HELD: readonly LeaseState[] = ['leased', 'verifying'];

let database: Database;
let testDb: TestDatabase;
const db = () => database.db;

beforeAll(async () => {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_lease_model'));
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

// ---- the model -------------------------------------------------------------

interface ModelTask {
  readonly id: string;
  readonly label: string;
  readonly chunk: number;
  readonly rendition: RenditionName;
  state: LeaseState;
  attempts: number;
  /** The one token the database may accept for this task, or null. */
  token: string | null;
  owner: string | null;
  /** Held, and its lease_expires_at set in the past but not reaped yet. */
  expired: boolean;
  /** Failed and within its backoff: not claimable until the test advances it. */
  backedOff: boolean;
  segmentKey: string | null;
  /** Per attempt (index = attempt - 1): who ran it and how it ended (null while it runs). */
  history: { worker: string; outcome: AttemptOutcome | null }[];
}

/** A lease as the worker that got it remembers it. Workers never forget one, as a zombie tab would not. */
interface HeldLease {
  readonly taskId: string;
  readonly token: string;
  readonly attempt: number;
  readonly worker: string;
}

interface World {
  readonly jobId: string;
  /** In claim order: chunk, then rendition. */
  readonly tasks: readonly ModelTask[];
  readonly byId: ReadonlyMap<string, ModelTask>;
  /** Every lease handed out, oldest first: what the workers hold, stale or not. Survives a restart. */
  readonly issued: HeldLease[];
  /** What this coordinator process knows (a WorkerConnection's lease): tokens per worker. Lost on restart. */
  coordinatorView: Map<string, string[]>;
  /** workers.disconnected_at IS NULL */
  readonly connected: Map<string, boolean>;
  /** workers.quarantined_until in the future */
  readonly quarantined: Map<string, boolean>;
  /** Seen in the database, independent of the model: highest attempts, and each done task's segment. */
  readonly seenAttempts: Map<string, number>;
  readonly seenDone: Map<string, string>;
  readonly trace: string[];
}

function task(w: World, id: string): ModelTask {
  const t = w.byId.get(id);
  if (!t) throw new Error(`unknown task ${id}`);
  return t;
}

const isHeld = (t: ModelTask) => HELD.includes(t.state);
const isCurrent = (t: ModelTask, l: HeldLease) => t.token !== null && t.token === l.token;
const currentLease = (w: World, t: ModelTask): HeldLease | undefined => (t.token === null ? undefined : w.issued.find((l) => l.token === t.token));
const claimable = (w: World) => w.tasks.filter((t) => t.state === 'queued' && !t.backedOff);
/** What every ended lease becomes: queued, or dead once its attempts are used up (retry_base stays 0 here). */
const afterEnd = (t: ModelTask): LeaseState => (t.attempts >= policy.maxAttempts ? 'dead' : 'queued');

function endAttempt(t: ModelTask, outcome: AttemptOutcome): void {
  t.history[t.attempts - 1]!.outcome = outcome;
  t.state = outcome === 'done' ? 'done' : afterEnd(t);
  t.token = null;
  t.owner = null;
  t.expired = false;
  // Held tasks were claimable when claimed, and only failLease adds a backoff.
  t.backedOff = outcome === 'failed' || outcome === 'rejected' ? t.state === 'queued' : false;
}

function snapshot(t: ModelTask): ModelTask {
  return { ...t, history: t.history.map((h) => ({ ...h })) };
}

async function seedWorld(taskCount: number): Promise<World> {
  await db().execute(sql`TRUNCATE jobs, workers CASCADE`);
  const jobId = randomUUID();
  await db().insert(jobs).values({ id: jobId, name: 'model.mp4', state: 'transcoding', requestedRenditions: ['480p', '360p'], sourceKey: 'k', sourceSize: 1 });
  const model: ModelTask[] = Array.from({ length: taskCount }, (_, i) => {
    const chunk = Math.floor(i / 2);
    const rendition: RenditionName = i % 2 === 0 ? '360p' : '480p';
    return { id: randomUUID(), label: `${chunk}/${rendition}`, chunk, rendition, state: 'queued', attempts: 0, token: null, owner: null, expired: false, backedOff: false, segmentKey: null, history: [] };
  });
  await db()
    .insert(tasks)
    .values(model.map((t) => ({ id: t.id, jobId, chunkIndex: t.chunk, rendition: t.rendition, params: encodeParams(t.rendition), chunkKey: `c${t.chunk}`, chunkSize: 100 })));
  await db()
    .insert(workers)
    .values([...WORKERS, DRAINER].map((id) => ({ id, capabilities: {} })));
  return {
    jobId,
    tasks: model,
    byId: new Map(model.map((t) => [t.id, t])),
    issued: [],
    coordinatorView: new Map(),
    connected: new Map(WORKERS.map((id) => [id, true])),
    quarantined: new Map(WORKERS.map((id) => [id, false])),
    seenAttempts: new Map(),
    seenDone: new Map(),
    trace: [],
  };
}

function encodeParams(rendition: RenditionName): EncodeParams {
  const [width, height] = rendition === '480p' ? [854, 480] : [640, 360];
  return { rendition, codec: 'h264', width, height, rotation: 0, crf: 23, maxrateKbps: 1500, bufsizeKbps: 3000, preset: 'veryfast', frames: 120 };
}

// ---- lease operations on one lease, each with what the model expects --------

/**
 * One operation on one lease. `accepts` and `transition` are the model (pure,
 * so a race can try both serial orders); `check` compares what the call
 * returned with the model just before the transition.
 */
interface LeaseOp<R = unknown> {
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

const heartbeatOp: LeaseOp<void> = {
  name: 'renewLease',
  accepts: (t, l) => isCurrent(t, l) && t.state === 'leased',
  transition: (t) => {
    t.expired = false;
  },
  call: (l) => renewLease(db(), { taskId: l.taskId, token: l.token, progress: 0.5, policy }),
  accepted: (r) => !leaseLost(r),
  check: () => {},
};

/** Also from verifying under the same token: a tab re-sends `complete` when the first answer was lost. */
const beginOp: LeaseOp<TaskRow> = {
  name: 'beginVerification',
  accepts: (t, l) => isCurrent(t, l) && isHeld(t),
  transition: (t) => {
    t.state = 'verifying';
    t.expired = false;
  },
  call: (l) => beginVerification(db(), { taskId: l.taskId, token: l.token, policy }),
  accepted: (r) => !leaseLost(r),
  check: (_w, t, _l, row) => expect(row, 'beginVerification row').toMatchObject({ id: t.id, state: 'verifying', attempts: t.attempts, lease_token: t.token, lease_owner: t.owner }),
};

/** The coordinator could not run the check: back to leased, the tab keeps its result and sends complete again. */
const undoOp: LeaseOp<boolean> = {
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
function acceptOp(w: World, variant = ''): LeaseOp<{ jobId: string; workerId: string }> {
  const segmentOf = (l: HeldLease) => {
    const t = task(w, l.taskId);
    return { key: storageKeys.segment(w.jobId, t.rendition, t.chunk, l.attempt) + variant, size: 10, sha256: (variant ? 'b' : 'a').repeat(64) };
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

function failOp(outcome: 'failed' | 'rejected'): LeaseOp<EndedLease> {
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
const reapOp: LeaseOp<EndedLease[]> = {
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
const releaseOp: LeaseOp<EndedLease[]> = {
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

/** How an ended lease comes back from failLease / reap / release, given the model just before it ended. */
function endedRow(w: World, t: ModelTask): EndedLease {
  return { task_id: t.id, job_id: w.jobId, state: afterEnd(t) as 'queued' | 'dead', attempts: t.attempts, worker_id: t.owner };
}

/**
 * A failed task waits min(60, 2^attempts) s. Checked here, then pinned an
 * hour out so that whether it is claimable never depends on how fast the run
 * goes; only the advance-backoff command (or the drain) releases it.
 */
async function checkBackoffAndPin(t: ModelTask): Promise<void> {
  const [row] = await rows<{ wait: number }>(db(), sql`SELECT extract(epoch FROM available_at - now())::float8 AS wait FROM tasks WHERE id = ${t.id}`);
  const backoff = Math.min(60, 2 ** t.attempts);
  expect(row!.wait, `backoff of ${t.label} after attempt ${t.attempts}`).toBeGreaterThan(backoff - 2);
  expect(row!.wait, `backoff of ${t.label} after attempt ${t.attempts}`).toBeLessThanOrEqual(backoff);
  await db().execute(sql`UPDATE tasks SET available_at = now() + interval '1 hour' WHERE id = ${t.id}`);
}

const describeLease = (t: ModelTask, l: HeldLease) => `${t.label} a${l.attempt} by ${l.worker} (${isCurrent(t, l) ? 'current' : 'stale'} token, task ${t.state}${t.expired ? ', expired' : ''})`;

/** Runs `op` alone; the database must accept it exactly when the model does. Returns whether it did. */
async function runOp<R>(w: World, op: LeaseOp<R>, l: HeldLease): Promise<boolean> {
  const t = task(w, l.taskId);
  const expected = op.accepts(t, l);
  w.trace.push(`  ${op.name} ${describeLease(t, l)} → model: ${expected ? 'accept' : 'refuse'}`);
  const [result] = await Promise.allSettled([op.call(l)]);
  const accepted = op.accepted(result!, t);
  if (accepted !== expected) {
    throw new Error(`${op.name} on ${describeLease(t, l)}: the model expected it to be ${expected ? 'accepted' : 'refused (LeaseLostError)'}, the database ${accepted ? 'accepted' : 'refused'} it`);
  }
  if (accepted) {
    op.check(w, t, l, (result as PromiseFulfilledResult<R>).value);
    op.transition(t, l);
    await op.after?.(w, t);
  }
  return accepted;
}

// ---- operations on many leases ---------------------------------------------

function applyClaim(w: World, worker: string, claimed: readonly TaskRow[]): void {
  for (const row of claimed) {
    const t = task(w, row.id);
    expect(t.state, `claimed ${t.label}`).toBe('queued');
    expect(row, `claimed ${t.label}`).toMatchObject({ state: 'leased', attempts: t.attempts + 1, lease_owner: worker, job_id: w.jobId });
    expect(row.lease_token, 'a fresh token').toBeTruthy();
    expect(w.issued.some((l) => l.token === row.lease_token), 'a token is never handed out twice').toBe(false);
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

/** How many tasks a worker's claim gets: none while quarantined. */
const effectiveLimit = (w: World, worker: string, limit: number) => (w.quarantined.get(worker) ? 0 : limit);

async function claim(w: World, worker: string, limit: number): Promise<TaskRow[]> {
  const expected = claimable(w).slice(0, effectiveLimit(w, worker, limit)).map((t) => t.id);
  const claimed = await claimTasks(db(), { workerId: worker, limit, policy });
  expect(claimed.map((r) => r.id).sort(), `${worker} (limit ${limit}${w.quarantined.get(worker) ? ', quarantined' : ''}) claims the first claimable tasks in order`).toEqual([...expected].sort());
  applyClaim(w, worker, claimed);
  return claimed;
}

/** Tasks a reap or a release ended must be exactly `expected`, each as the model says. */
function applyEnded(w: World, what: string, ended: readonly EndedLease[], expected: readonly ModelTask[], outcome: AttemptOutcome): void {
  w.trace.push(`  ${what}: model [${expected.map((t) => t.label).join(', ')}], database [${ended.map((e) => task(w, e.task_id).label).join(', ')}]`);
  expect(ended.map((e) => e.task_id).sort(), `${what} ends exactly the leases the model says`).toEqual(expected.map((t) => t.id).sort());
  for (const e of ended) {
    const t = task(w, e.task_id);
    expect(e, `${t.label} ended by ${what}`).toEqual(endedRow(w, t));
    endAttempt(t, outcome);
  }
}

const expireInDb = async (w: World, t: ModelTask) => {
  await db().execute(sql`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = ${t.id}`);
  t.expired = true;
  w.trace.push(`  expired ${t.label}`);
};

/** Expire one held lease (or none) and reap: exactly the expired ones come back. */
async function expireAndReap(w: World, target: ModelTask | undefined): Promise<void> {
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
async function hello(w: World, worker: string, resume: boolean): Promise<void> {
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
async function disconnect(w: World, worker: string, onlyIfDisconnected: boolean, backElsewhere: boolean): Promise<void> {
  await setConnected(w, worker, false);
  if (backElsewhere) await hello(w, worker, true);
  const tokens = w.coordinatorView.get(worker) ?? [];
  const gone = !onlyIfDisconnected || !w.connected.get(worker);
  const expected = gone ? w.tasks.filter((t) => isHeld(t) && t.owner === worker && t.token !== null && tokens.includes(t.token)) : [];
  const ended = await releaseLeases(db(), { workerId: worker, tokens, outcome: 'disconnected', reason: 'worker disconnected', policy, onlyIfDisconnected });
  applyEnded(w, `releaseLeases(${worker}${onlyIfDisconnected ? ', only if disconnected' : ''})`, ended, expected, 'disconnected');
  w.coordinatorView.delete(worker);
}

async function restart(w: World): Promise<void> {
  // A coordinator crash: its connections, grace timers and knowledge of who
  // holds what are gone; the workers still hold their leases.
  await database.close();
  database = await openDatabase({ databaseUrl: testDb.url, dataDir: '/nonexistent' });
  w.coordinatorView = new Map();
}

async function advanceBackoff(w: World): Promise<void> {
  await db().execute(sql`UPDATE tasks SET available_at = now()`);
  for (const t of w.tasks) t.backedOff = false;
}

// ---- races -----------------------------------------------------------------

/** Two claimers on two connections at once: disjoint, and together exactly the first (limitA + limitB) claimable tasks. */
async function raceClaims(w: World, pair: readonly [string, string], limits: readonly [number, number]): Promise<void> {
  const eligible = claimable(w).map((t) => t.id);
  const [a, b] = await Promise.all([0, 1].map((i) => claimTasks(db(), { workerId: pair[i]!, limit: limits[i]!, policy })));
  const all = [...a!, ...b!].map((r) => r.id);
  expect(a!.length, 'claimer A stays within its limit').toBeLessThanOrEqual(effectiveLimit(w, pair[0], limits[0]));
  expect(b!.length, 'claimer B stays within its limit').toBeLessThanOrEqual(effectiveLimit(w, pair[1], limits[1]));
  expect(new Set(all).size, 'no task leased twice by racing claimers').toBe(all.length);
  const together = effectiveLimit(w, pair[0], limits[0]) + effectiveLimit(w, pair[1], limits[1]);
  expect([...all].sort(), 'racing claimers together take a prefix of the claim order').toEqual(eligible.slice(0, together).sort());
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
async function raceOnLease(w: World, ops: readonly [LeaseOp, LeaseOp], t: ModelTask, l: HeldLease): Promise<void> {
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

  const [row] = await rows<{ state: string; lease_token: string | null; segment_key: string | null }>(db(), sql`SELECT state, lease_token, segment_key FROM tasks WHERE id = ${t.id}`);
  const match = candidates.find(
    (c) => c.accepted[0] === observed[0] && c.accepted[1] === observed[1] && c.end.state === row!.state && c.end.token === row!.lease_token && c.end.segmentKey === row!.segment_key,
  );
  const describe = (c: (typeof candidates)[number]) => `${c.order.map((i) => ops[i]!.name).join(' then ')}: [${c.accepted}] → ${c.end.state}`;
  w.trace.push(`  race ${ops[0].name} ‖ ${ops[1].name} on ${describeLease(t, l)} → accepted [${observed}], task ${row!.state}${match ? ` = ${describe(match)}` : ''}`);
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
    if (ops[i]!.skipsLocked && !match.accepted[i] && r.status === 'fulfilled') expect(r.value, `${ops[i]!.name} ends nothing else`).toEqual([]);
  }
}

// ---- commands --------------------------------------------------------------

/**
 * Which lease a command uses: a current one; a zombie's (stale, its task
 * since leased to someone else or finished); any one ever issued (mostly
 * stale); or a made-up token.
 */
interface TokenPick {
  readonly from: 'current' | 'zombie' | 'any' | 'random';
  readonly n: number;
}

const RACE_OPS = ['heartbeat', 'begin', 'undo', 'accept', 'fail', 'reap', 'release'] as const;
type RaceOp = (typeof RACE_OPS)[number];

type Command =
  | { readonly kind: 'claim'; readonly worker: number; readonly limit: number }
  | { readonly kind: 'heartbeat'; readonly pick: TokenPick }
  | { readonly kind: 'begin'; readonly pick: TokenPick }
  | { readonly kind: 'undo'; readonly pick: TokenPick }
  | { readonly kind: 'accept'; readonly pick: TokenPick }
  | { readonly kind: 'complete'; readonly pick: TokenPick; readonly duplicate: boolean }
  | { readonly kind: 'reject'; readonly pick: TokenPick }
  | { readonly kind: 'fail'; readonly pick: TokenPick }
  | { readonly kind: 'expire'; readonly n: number | null }
  | { readonly kind: 'disconnect'; readonly worker: number; readonly onlyIfDisconnected: boolean; readonly backElsewhere: boolean }
  | { readonly kind: 'hello'; readonly worker: number; readonly resume: boolean }
  | { readonly kind: 'quarantine'; readonly worker: number; readonly on: boolean }
  | { readonly kind: 'restart' }
  | { readonly kind: 'advanceBackoff' }
  | { readonly kind: 'raceClaims'; readonly workers: readonly [number, number]; readonly limits: readonly [number, number] }
  | { readonly kind: 'race'; readonly ops: readonly [RaceOp, RaceOp]; readonly verifyFirst: boolean; readonly expireFirst: boolean; readonly n: number };

const workerArb = fc.nat(WORKERS.length - 1);
const limitArb = fc.integer({ min: 1, max: 3 });
const pickArb: fc.Arbitrary<TokenPick> = fc.record({ from: fc.constantFrom('current', 'current', 'current', 'zombie', 'zombie', 'any', 'random'), n: fc.nat(1000) });
const raceOpArb = fc.constantFrom(...RACE_OPS);

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('claim'), worker: workerArb, limit: limitArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('heartbeat'), pick: pickArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('begin'), pick: pickArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('undo'), pick: pickArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('accept'), pick: pickArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('complete'), pick: pickArb, duplicate: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('reject'), pick: pickArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('fail'), pick: pickArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('expire'), n: fc.option(fc.nat(1000), { freq: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('disconnect'), worker: fc.nat(1000), onlyIfDisconnected: fc.boolean(), backElsewhere: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('hello'), worker: fc.nat(1000), resume: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('quarantine'), worker: workerArb, on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart') }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advanceBackoff') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('raceClaims'), workers: fc.tuple(workerArb, workerArb), limits: fc.tuple(limitArb, limitArb) }) },
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('race'), ops: fc.tuple(raceOpArb, raceOpArb), verifyFirst: fc.boolean(), expireFirst: fc.boolean(), n: fc.nat(1000) }),
  },
);

function resolvePick(w: World, pick: TokenPick): HeldLease {
  const current = w.issued.filter((l) => isCurrent(task(w, l.taskId), l));
  if (pick.from === 'current' && current.length > 0) return current[pick.n % current.length]!;
  const zombies = w.issued.filter((l) => {
    const t = task(w, l.taskId);
    return !isCurrent(t, l) && (isHeld(t) || t.state === 'done');
  });
  if (pick.from === 'zombie' && zombies.length > 0) return zombies[pick.n % zombies.length]!;
  if (pick.from !== 'random' && w.issued.length > 0) return w.issued[pick.n % w.issued.length]!;
  const t = w.tasks[pick.n % w.tasks.length]!;
  return { taskId: t.id, token: randomUUID(), attempt: Math.max(1, t.attempts), worker: WORKERS[pick.n % WORKERS.length]! };
}

/** Mostly a worker that holds something, so that disconnects and reloads have leases to act on. */
function pickWorker(w: World, n: number): string {
  const holders = WORKERS.filter((id) => w.tasks.some((t) => isHeld(t) && t.owner === id));
  return holders.length > 0 && n % 4 !== 0 ? holders[n % holders.length]! : WORKERS[n % WORKERS.length]!;
}

function raceOp(w: World, kind: RaceOp, index: number): LeaseOp {
  const ops: Record<RaceOp, LeaseOp> = {
    heartbeat: heartbeatOp,
    begin: beginOp,
    undo: undoOp,
    // Two racing completions carry different segments, so the one accepted is visible.
    accept: acceptOp(w, index === 0 ? '' : '.racing') as LeaseOp,
    fail: failOp('failed') as LeaseOp,
    reap: reapOp as LeaseOp,
    release: releaseOp as LeaseOp,
  };
  return ops[kind];
}

async function step(w: World, cmd: Command): Promise<void> {
  switch (cmd.kind) {
    case 'claim':
      await claim(w, WORKERS[cmd.worker]!, cmd.limit);
      return;
    case 'heartbeat':
      await runOp(w, heartbeatOp, resolvePick(w, cmd.pick));
      return;
    case 'begin':
      await runOp(w, beginOp, resolvePick(w, cmd.pick));
      return;
    case 'undo':
      await runOp(w, undoOp, resolvePick(w, cmd.pick));
      return;
    case 'accept':
      await runOp(w, acceptOp(w), resolvePick(w, cmd.pick));
      return;
    case 'complete': {
      const l = resolvePick(w, cmd.pick);
      if (await runOp(w, beginOp, l)) await runOp(w, acceptOp(w), l);
      if (cmd.duplicate) {
        // A replayed completion after the first was decided: refused whatever happened above.
        await runOp(w, beginOp, l);
        await runOp(w, acceptOp(w, '.dup'), l);
      }
      return;
    }
    case 'reject': {
      const l = resolvePick(w, cmd.pick);
      await runOp(w, beginOp, l);
      await runOp(w, failOp('rejected'), l);
      return;
    }
    case 'fail':
      await runOp(w, failOp('failed'), resolvePick(w, cmd.pick));
      return;
    case 'expire': {
      const held = w.tasks.filter(isHeld);
      await expireAndReap(w, cmd.n === null || held.length === 0 ? undefined : held[cmd.n % held.length]);
      return;
    }
    case 'disconnect':
      await disconnect(w, pickWorker(w, cmd.worker), cmd.onlyIfDisconnected, cmd.backElsewhere);
      return;
    case 'hello':
      await hello(w, pickWorker(w, cmd.worker), cmd.resume);
      return;
    case 'quarantine': {
      const worker = WORKERS[cmd.worker]!;
      await db().execute(sql`UPDATE workers SET quarantined_until = ${cmd.on ? sql`now() + interval '1 hour'` : sql`NULL`} WHERE id = ${worker}`);
      w.quarantined.set(worker, cmd.on);
      return;
    }
    case 'restart':
      await restart(w);
      return;
    case 'advanceBackoff':
      await advanceBackoff(w);
      return;
    case 'raceClaims':
      await raceClaims(w, [WORKERS[cmd.workers[0]]!, WORKERS[cmd.workers[1]]!], cmd.limits);
      return;
    case 'race': {
      // Leftovers of an earlier race are reaped first, so the reaper in this one sees only its target.
      if (w.tasks.some((t) => isHeld(t) && t.expired)) await expireAndReap(w, undefined);
      const held = w.tasks.filter(isHeld);
      const t = held[cmd.n % Math.max(1, held.length)];
      if (!t) return;
      const l = currentLease(w, t)!;
      if (cmd.verifyFirst && t.state === 'leased') await runOp(w, beginOp, l);
      if (cmd.expireFirst || cmd.ops.includes('reap')) await expireInDb(w, t);
      await raceOnLease(w, [raceOp(w, cmd.ops[0], 0), raceOp(w, cmd.ops[1], 1)], t, l);
      return;
    }
  }
}

// ---- invariants ------------------------------------------------------------

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
    if (!isHeld(t) && t.state !== 'done') continue;
    const zombie = w.issued.filter((l) => l.taskId === t.id && !isCurrent(t, l)).at(-1);
    if (!zombie) continue;
    for (const op of [heartbeatOp, beginOp, undoOp, acceptOp(w, '.zombie'), failOp('failed')] as LeaseOp[]) {
      const [result] = await Promise.allSettled([op.call(zombie)]);
      if (op.accepted(result!, t)) throw new Error(`${op.name} accepted the stale token of ${describeLease(t, zombie)}`);
    }
  }
}

async function checkInvariants(w: World): Promise<void> {
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
    expect({ token: row.lease_token !== null, owner: row.lease_owner !== null, expiry: row.has_expiry }, `${at}: lease fields set iff the task is held (${row.state})`).toEqual({
      token: held,
      owner: held,
      expiry: held,
    });
    expect(row.attempts - row.retry_base, `${at}: attempts never exceed maxAttempts`).toBeLessThanOrEqual(policy.maxAttempts);
    if (row.state === 'dead') expect(row.attempts - row.retry_base, `${at}: dead only after maxAttempts attempts`).toBe(policy.maxAttempts);
    expect(row.attempts, `${at}: attempts never decrease`).toBeGreaterThanOrEqual(w.seenAttempts.get(row.id) ?? 0);
    w.seenAttempts.set(row.id, row.attempts);
    const accepted = w.seenDone.get(row.id);
    if (accepted !== undefined) {
      expect({ state: row.state, segment: row.segment_key }, `${at}: done is final and its accepted segment is never replaced`).toEqual({ state: 'done', segment: accepted });
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
      expect({ ended: a.ended, hasOutcome: a.outcome !== null }, `${at} attempt ${a.attempt}: ended, with an outcome, unless it is the running one`).toEqual({
        ended: !running,
        hasOutcome: !running,
      });
    }

    // The model.
    expect(
      { state: row.state, attempts: row.attempts, token: row.lease_token, owner: row.lease_owner, segment: row.segment_key, leaseLive: held ? row.lease_live : null },
      `${at}: the database matches the model`,
    ).toEqual({ state: t.state, attempts: t.attempts, token: t.token, owner: t.owner, segment: t.segmentKey, leaseLive: held ? !t.expired : null });
    if (row.state === 'queued') expect(row.backed_off, `${at}: in backoff as the model says`).toBe(t.backedOff);
    expect(
      history.map((a) => ({ worker: a.worker_id, outcome: a.outcome })),
      `${at}: the attempt history matches the model`,
    ).toEqual(t.history);
  }
}

/** A well-behaved worker takes everything left, expiring what others hold, until nothing is claimable. */
async function drain(w: World): Promise<void> {
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
async function checkAllTokensStale(w: World): Promise<void> {
  for (const l of w.issued) {
    for (const op of [heartbeatOp, beginOp, undoOp, acceptOp(w, '.late'), failOp('failed')] as LeaseOp[]) {
      const t = task(w, l.taskId);
      const [result] = await Promise.allSettled([op.call(l)]);
      if (op.accepted(result!, t)) throw new Error(`${op.name} accepted a stale token of ${t.label} after the drain (${t.state})`);
    }
  }
  await checkInvariants(w);
}

// ---- the property ----------------------------------------------------------

const runs = Number(process.env.LEASE_MODEL_RUNS ?? 50);
/** ~10 s for 50 runs on 2 cores; the rest of the budget is for shrinking a failure. */
const timeLimitMs = Math.max(60_000, runs * 1000);

it('random lease operations keep every invariant, and a drain leaves every task done or dead', async () => {
  const seed = process.env.LEASE_MODEL_SEED;
  const path = process.env.LEASE_MODEL_PATH;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 3, max: 5 }), fc.array(commandArb, { maxLength: 40, size: 'max' }), async (taskCount, commands) => {
      const w = await seedWorld(taskCount);
      try {
        for (const [i, cmd] of commands.entries()) {
          w.trace.push(`#${i} ${JSON.stringify(cmd)}`);
          await step(w, cmd);
          await checkInvariants(w);
        }
        await drain(w);
        await checkAllTokensStale(w);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- trace (what each step did; "model:" is what it expected) ---\n${w.trace.join('\n')}`, { cause: err });
      }
    }),
    {
      numRuns: runs,
      ...(seed ? { seed: Number(seed) } : {}),
      ...(path ? { path } : {}),
      // Shrinking reruns whole sequences against the database; stop it in
      // time for the report (seed, path, smallest sequence so far) to print
      // before the test times out.
      plugins: [fc.interruptAfterTimeLimit(timeLimitMs)],
    },
  );
}, timeLimitMs + 30_000);
