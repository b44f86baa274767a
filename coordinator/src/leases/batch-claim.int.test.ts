/**
 * Batch claims on the real PostgreSQL: a worker leases several rungs of one
 * chunk at once (one download and decode in the tab), and each rung is still
 * its own lease: fenced by its own token, renewed, failed, retried and
 * reaped on its own. A fresh database per file.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { EncodeParams, RenditionName } from '@tabgrid/shared';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rows, type Database, type Db } from '../db/client.js';
import { jobs, tasks } from '../db/schema.js';
import { openTestDatabase, type TestDatabase } from '../db/test-database.js';
import { LeaseLostError } from '../errors.js';
import { claimTasks, failLease, reapExpiredLeases, renewLeases, type TaskRow } from './index.js';
import type { LeasePolicy } from './types.js';

const policy: LeasePolicy = { ttlSeconds: 30, maxAttempts: 3 };
const LADDER: { name: RenditionName; width: number; height: number }[] = [
  { name: '720p', width: 1280, height: 720 },
  { name: '480p', width: 854, height: 480 },
  { name: '360p', width: 640, height: 360 },
];
const paramsFor = (r: (typeof LADDER)[number]): EncodeParams => ({
  rendition: r.name,
  codec: 'h264',
  width: r.width,
  height: r.height,
  rotation: 0,
  crf: 23,
  maxrateKbps: 1500,
  bufsizeKbps: 3000,
  preset: 'veryfast',
  frames: 120,
});

let database: Database;
let testDb: TestDatabase;
const db = () => database.db;

beforeAll(async () => {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_batch_claim'));
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});
beforeEach(async () => {
  await db().execute(sql`TRUNCATE jobs CASCADE`);
});

/** A transcoding job of `chunks` chunks × the 3-rung ladder. */
async function seed(chunks: number): Promise<void> {
  const jobId = randomUUID();
  await db()
    .insert(jobs)
    .values({
      id: jobId,
      name: 'ladder.mp4',
      state: 'transcoding',
      requestedRenditions: ['720p', '480p', '360p'],
      sourceKey: 'k',
      sourceSize: 1,
    });
  const values = Array.from({ length: chunks }, (_, c) =>
    LADDER.map((r) => ({
      id: randomUUID(),
      jobId,
      chunkIndex: c,
      rendition: r.name,
      params: paramsFor(r),
      chunkKey: `c${c}`,
      chunkSize: 100,
    })),
  ).flat();
  for (let i = 0; i < values.length; i += 500)
    await db()
      .insert(tasks)
      .values(values.slice(i, i + 500));
}

const rungsOf = (claimed: readonly TaskRow[]) => claimed.map((t) => `${t.chunk_index}/${t.rendition}`).sort();
const stateOf = async (id: string) => (await rows<{ state: string }>(db(), sql`SELECT state FROM tasks WHERE id = ${id}`))[0]?.state;
const makeDue = () => db().execute(sql`UPDATE tasks SET available_at = now()`);

describe('claimTasks leases rungs of one chunk together', () => {
  it('leases up to the limit, all of the first chunk, each with its own token and attempt', async () => {
    await seed(3);
    const batch = await claimTasks(db(), { workerId: 'w1', limit: 3, policy });
    expect(rungsOf(batch)).toEqual(['0/360p', '0/480p', '0/720p']);
    expect(new Set(batch.map((t) => t.lease_token)).size).toBe(3);
    expect(batch.every((t) => t.state === 'leased' && t.attempts === 1 && t.lease_owner === 'w1')).toBe(true);
    const [logged] = await rows<{ n: number }>(db(), sql`SELECT count(*)::int AS n FROM task_attempts WHERE worker_id = 'w1'`);
    expect(logged?.n).toBe(3);
  });

  it('never mixes chunks: a claim after part of a chunk was taken gets the rest of that chunk only', async () => {
    await seed(3);
    expect(rungsOf(await claimTasks(db(), { workerId: 'w1', limit: 2, policy }))).toHaveLength(2);
    const rest = await claimTasks(db(), { workerId: 'w2', limit: 3, policy });
    expect(rungsOf(rest)).toHaveLength(1);
    expect(rest[0]!.chunk_index).toBe(0);
    expect(rungsOf(await claimTasks(db(), { workerId: 'w3', limit: 3, policy }))).toEqual(['1/360p', '1/480p', '1/720p']);
    expect(rungsOf(await claimTasks(db(), { workerId: 'w4', limit: 1, policy }))).toEqual(['2/360p']);
  });

  it('concurrent claimers on 12 connections: every rung leased once, every claim within one chunk', async () => {
    await seed(60);
    const clients = Array.from({ length: 12 }, () => postgres(testDb.url, { max: 1, onnotice: () => {} }));
    try {
      const claims = await Promise.all(
        clients.map(async (client, n) => {
          const conn = drizzle(client) as unknown as Db;
          const mine: TaskRow[][] = [];
          for (;;) {
            const got = await claimTasks(conn, { workerId: `w${n}`, limit: 3, policy });
            if (got.length === 0) break;
            mine.push(got);
          }
          return mine;
        }),
      );
      const all = claims.flat(2).map((t) => t.id);
      expect(all).toHaveLength(180);
      expect(new Set(all).size).toBe(180);
      for (const claim of claims.flat()) expect(new Set(claim.map((t) => t.chunk_index)).size).toBe(1);
      expect(claims.filter((c) => c.length > 0).length, 'the claimers did contend').toBeGreaterThan(3);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});

describe('each rung of a batch is its own lease', () => {
  it('one heartbeat renews the rungs whose tokens are current, and only those', async () => {
    await seed(1);
    const [a, b, c] = await claimTasks(db(), { workerId: 'w1', limit: 3, policy });
    await db().execute(sql`UPDATE tasks SET lease_expires_at = now() + interval '1 second'`);
    const renewed = await renewLeases(db(), {
      leases: [
        { leaseId: a!.id, token: a!.lease_token! },
        // b under c's token, c under a made-up one, a non-UUID and a duplicate of a: none of them current.
        { leaseId: b!.id, token: c!.lease_token! },
        { leaseId: c!.id, token: randomUUID() },
        { leaseId: "x'); DROP TABLE tasks; --", token: a!.lease_token! },
      ],
      progress: 0.4,
      policy,
    });
    expect(renewed).toEqual([a!.id]);
    const expiry = await rows<{ id: string; later: boolean; progress: number }>(
      db(),
      sql`SELECT id, lease_expires_at > now() + interval '20 seconds' AS later, progress FROM tasks`,
    );
    expect(Object.fromEntries(expiry.map((e) => [e.id, [e.later, e.progress]]))).toEqual({
      [a!.id]: [true, 0.4],
      [b!.id]: [false, 0],
      [c!.id]: [false, 0],
    });
  });

  it('a rung failing alone is retried alone: the other rungs stay leased, and the next claim gets just that rung', async () => {
    await seed(2);
    const batch = await claimTasks(db(), { workerId: 'w1', limit: 3, policy });
    const [failing, ...others] = batch;
    // Another rung's token does not fail it.
    await expect(
      failLease(db(), { taskId: failing!.id, token: others[0]!.lease_token!, outcome: 'failed', reason: 'x', policy, workerId: 'w1' }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    const ended = await failLease(db(), {
      taskId: failing!.id,
      token: failing!.lease_token!,
      outcome: 'failed',
      reason: 'upload refused',
      policy,
      workerId: 'w1',
    });
    expect(ended).toMatchObject({ task_id: failing!.id, state: 'queued', attempts: 1 });
    for (const o of others) expect(await stateOf(o.id)).toBe('leased');
    expect(
      await renewLeases(db(), { leases: others.map((o) => ({ leaseId: o.id, token: o.lease_token! })), progress: 0.9, policy }),
    ).toHaveLength(2);
    // In backoff, the next chunk comes first; once due, the failed rung is served alone, ahead of later chunks.
    expect(rungsOf(await claimTasks(db(), { workerId: 'w2', limit: 3, policy }))).toEqual(['1/360p', '1/480p', '1/720p']);
    await makeDue();
    const retry = await claimTasks(db(), { workerId: 'w3', limit: 3, policy });
    expect(retry.map((t) => [t.id, t.attempts])).toEqual([[failing!.id, 2]]);
  });

  it('reaping a batch whose tab went silent returns every rung, each with its own attempt record; a renewed rung is kept', async () => {
    await seed(1);
    const batch = await claimTasks(db(), { workerId: 'w1', limit: 3, policy });
    await db().execute(sql`UPDATE tasks SET lease_expires_at = now() - interval '1 second'`);
    const [kept] = batch;
    await db().execute(sql`UPDATE tasks SET lease_expires_at = now() + interval '30 seconds' WHERE id = ${kept!.id}`);
    const reaped = await reapExpiredLeases(db(), { policy });
    expect(reaped.map((e) => e.task_id).sort()).toEqual(
      batch
        .slice(1)
        .map((t) => t.id)
        .sort(),
    );
    expect(reaped.every((e) => e.state === 'queued' && e.worker_id === 'w1')).toBe(true);
    const outcomes = await rows<{ task_id: string; outcome: string | null }>(db(), sql`SELECT task_id, outcome FROM task_attempts`);
    expect(Object.fromEntries(outcomes.map((o) => [o.task_id, o.outcome]))).toEqual({
      [batch[0]!.id]: null,
      [batch[1]!.id]: 'expired',
      [batch[2]!.id]: 'expired',
    });
    // The stale tokens renew nothing; the reaped rungs go to the next claimer together.
    expect(await renewLeases(db(), { leases: batch.map((t) => ({ leaseId: t.id, token: t.lease_token! })), progress: 1, policy })).toEqual([
      kept!.id,
    ]);
    const again = await claimTasks(db(), { workerId: 'w2', limit: 3, policy });
    expect(again.map((t) => t.id).sort()).toEqual(
      batch
        .slice(1)
        .map((t) => t.id)
        .sort(),
    );
    expect(again.every((t) => t.attempts === 2)).toBe(true);
  });
});
