/**
 * The in-memory model of the lease table: what each task should look like,
 * which tokens the workers hold, and how an ended lease comes back.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import type { EncodeParams, RenditionName } from '@tabgrid/shared';
import { jobs, tasks, workers } from '../../db/schema.js';
import type { AttemptOutcome, EndedLease, LeasePolicy } from '../index.js';
import { db } from './database.js';

export const policy: LeasePolicy = { ttlSeconds: 30, maxAttempts: 3 };
export const WORKERS = ['w0', 'w1', 'w2', 'w3'] as const;
export const DRAINER = 'drainer';
/**
 * Where each worker connects from (workers.address). w0 and w1 share an
 * address (two tabs behind one NAT); w1 has had a segment accepted before
 * (tasks_done > 0), w0 has not, so a quarantine of w1 blocks w0 and not the
 * other way round. With maxAttempts 3, only failures from three distinct
 * addresses kill a task.
 */
export const ADDRESSES: Readonly<Record<string, string>> = {
  w0: '10.0.0.1',
  w1: '10.0.0.1',
  w2: '10.0.0.2',
  w3: '10.0.0.3',
  [DRAINER]: '10.0.0.4',
};
export const ESTABLISHED: ReadonlySet<string> = new Set(['w1']);
/** Attempt outcomes that count against a task (failure-budget.ts). */
export const UNSUCCESSFUL: readonly (AttemptOutcome | null)[] = ['expired', 'failed', 'rejected', 'disconnected'];
export const LEASE_STATES = ['queued', 'leased', 'verifying', 'done', 'dead'] as const;
export type LeaseState = (typeof LEASE_STATES)[number];
export const HELD: readonly LeaseState[] = ['leased', 'verifying'];

export interface ModelTask {
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
export interface HeldLease {
  readonly taskId: string;
  readonly token: string;
  readonly attempt: number;
  readonly worker: string;
}

export interface World {
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

export function task(w: World, id: string): ModelTask {
  const t = w.byId.get(id);
  if (!t) throw new Error(`unknown task ${id}`);
  return t;
}

export const isHeld = (t: ModelTask) => HELD.includes(t.state);
export const isCurrent = (t: ModelTask, l: HeldLease) => t.token !== null && t.token === l.token;
export const currentLease = (w: World, t: ModelTask): HeldLease | undefined =>
  t.token === null ? undefined : w.issued.find((l) => l.token === t.token);
export const claimable = (w: World) => w.tasks.filter((t) => t.state === 'queued' && !t.backedOff);
/** What one uncontended claim of up to `limit` leases: the first claimable task's chunk, its claimable rungs in order. */
export function claimBatch(w: World, limit: number): ModelTask[] {
  const open = claimable(w);
  const head = open[0];
  return head ? open.filter((t) => t.chunk === head.chunk).slice(0, limit) : [];
}
/**
 * Distinct addresses behind the unsuccessful attempts (retry_base stays 0
 * here), plus the running one when `includingCurrent` (the attempt being
 * ended now).
 */
export function countedFailures(history: readonly { worker: string; outcome: AttemptOutcome | null }[], includingCurrent: boolean): number {
  const counted = history.filter((h, i) => UNSUCCESSFUL.includes(h.outcome) || (includingCurrent && i === history.length - 1));
  return new Set(counted.map((h) => ADDRESSES[h.worker] ?? `worker:${h.worker}`)).size;
}

/** What every ended lease becomes: queued, or dead once failures from maxAttempts distinct addresses end it. */
export const afterEnd = (t: ModelTask): LeaseState => (countedFailures(t.history, true) >= policy.maxAttempts ? 'dead' : 'queued');

/** Claims nothing: quarantined itself, or never accepted and another worker from its address is quarantined. */
export function blocked(w: World, worker: string): boolean {
  if (w.quarantined.get(worker)) return true;
  if (ESTABLISHED.has(worker)) return false;
  return WORKERS.some((other) => other !== worker && ADDRESSES[other] === ADDRESSES[worker] && w.quarantined.get(other));
}

export function endAttempt(t: ModelTask, outcome: AttemptOutcome): void {
  t.history[t.attempts - 1]!.outcome = outcome;
  t.state = outcome === 'done' ? 'done' : afterEnd(t);
  t.token = null;
  t.owner = null;
  t.expired = false;
  // Held tasks were claimable when claimed, and only failLease adds a backoff.
  t.backedOff = outcome === 'failed' || outcome === 'rejected' ? t.state === 'queued' : false;
}

export function snapshot(t: ModelTask): ModelTask {
  return { ...t, history: t.history.map((h) => ({ ...h })) };
}

export async function seedWorld(taskCount: number): Promise<World> {
  await db().execute(sql`TRUNCATE jobs, workers CASCADE`);
  const jobId = randomUUID();
  await db()
    .insert(jobs)
    .values({ id: jobId, name: 'model.mp4', state: 'transcoding', requestedRenditions: ['480p', '360p'], sourceKey: 'k', sourceSize: 1 });
  const model: ModelTask[] = Array.from({ length: taskCount }, (_, i) => {
    const chunk = Math.floor(i / 2);
    const rendition: RenditionName = i % 2 === 0 ? '360p' : '480p';
    return {
      id: randomUUID(),
      label: `${chunk}/${rendition}`,
      chunk,
      rendition,
      state: 'queued',
      attempts: 0,
      token: null,
      owner: null,
      expired: false,
      backedOff: false,
      segmentKey: null,
      history: [],
    };
  });
  await db()
    .insert(tasks)
    .values(
      model.map((t) => ({
        id: t.id,
        jobId,
        chunkIndex: t.chunk,
        rendition: t.rendition,
        params: encodeParams(t.rendition),
        chunkKey: `c${t.chunk}`,
        chunkSize: 100,
      })),
    );
  await db()
    .insert(workers)
    .values([...WORKERS, DRAINER].map((id) => ({ id, capabilities: {}, address: ADDRESSES[id]!, tasksDone: ESTABLISHED.has(id) ? 1 : 0 })));
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
  return {
    rendition,
    codec: 'h264',
    width,
    height,
    rotation: 0,
    crf: 23,
    maxrateKbps: 1500,
    bufsizeKbps: 3000,
    preset: 'veryfast',
    frames: 120,
  };
}

/** How an ended lease comes back from failLease / reap / release, given the model just before it ended. */
export function endedRow(w: World, t: ModelTask): EndedLease {
  return {
    task_id: t.id,
    job_id: w.jobId,
    state: afterEnd(t) as 'queued' | 'dead',
    attempts: t.attempts,
    // The backoff itself is checked against the table (lease-ops.ts failOp); here only that it comes back.
    available_at: expect.anything() as unknown as Date,
    worker_id: t.owner,
  };
}

export const describeLease = (t: ModelTask, l: HeldLease) =>
  `${t.label} a${l.attempt} by ${l.worker} (${isCurrent(t, l) ? 'current' : 'stale'} token, task ${t.state}${t.expired ? ', expired' : ''})`;
