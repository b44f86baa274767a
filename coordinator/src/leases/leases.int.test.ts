/**
 * The lease table against the real PostgreSQL: concurrency, expiry and
 * fencing. A fresh database per file.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rows, type Database, type Db } from '../db/client.js';
import { jobs, tasks } from '../db/schema.js';
import { openTestDatabase, type TestDatabase } from '../db/test-database.js';
import { LeaseLostError } from '../errors.js';
import { acceptSegment, beginVerification, claimTasks, failLease, reapExpiredLeases, releaseLeases, renewLease } from './index.js';
import type { LeasePolicy } from './types.js';

const policy: LeasePolicy = { ttlSeconds: 30, maxAttempts: 3 };
const params = {
  rendition: '480p',
  codec: 'h264',
  width: 854,
  height: 480,
  rotation: 0,
  crf: 23,
  maxrateKbps: 1500,
  bufsizeKbps: 3000,
  preset: 'veryfast',
  frames: 120,
} as const;

let database: Database;
let testDb: TestDatabase;

beforeAll(async () => {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_leases'));
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});
beforeEach(async () => {
  await database.db.execute(sql`TRUNCATE jobs CASCADE`);
});

async function seed(db: Db, taskCount: number): Promise<string> {
  const jobId = randomUUID();
  await db
    .insert(jobs)
    .values({ id: jobId, name: 'seed.mp4', state: 'transcoding', requestedRenditions: ['480p'], sourceKey: 'k', sourceSize: 1 });
  const values = Array.from({ length: taskCount }, (_, i) => ({
    id: randomUUID(),
    jobId,
    chunkIndex: i,
    rendition: '480p' as const,
    params,
    chunkKey: `c${i}`,
    chunkSize: 100,
  }));
  for (let i = 0; i < values.length; i += 500) await db.insert(tasks).values(values.slice(i, i + 500));
  return jobId;
}

describe('claimTasks under contention', () => {
  it('20 concurrent connections leasing 1,000 tasks never lease one twice', async () => {
    await seed(database.db, 1000);
    const clients = Array.from({ length: 20 }, () => postgres(testDb.url, { max: 1, onnotice: () => {} }));
    try {
      const leased = await Promise.all(
        clients.map(async (client, n) => {
          const db = drizzle(client) as unknown as Db;
          const mine: string[] = [];
          for (;;) {
            const got = await claimTasks(db, { workerId: `w${n}`, limit: 3, policy });
            if (got.length === 0) break;
            mine.push(...got.map((t) => t.id));
          }
          return mine;
        }),
      );
      const all = leased.flat();
      expect(all).toHaveLength(1000);
      expect(new Set(all).size).toBe(1000);
      // Work was actually spread over the connections, so they did contend.
      expect(leased.filter((l) => l.length > 0).length).toBeGreaterThan(5);
      const [counts] = await rows<{ leased: number; attempts: number }>(
        database.db,
        sql`SELECT count(*) FILTER (WHERE state = 'leased')::int AS leased, (SELECT count(*)::int FROM task_attempts) AS attempts FROM tasks`,
      );
      expect(counts).toEqual({ leased: 1000, attempts: 1000 });
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});

describe('expiry and fencing', () => {
  it('an expired lease is leased again, and the old token is refused everywhere', async () => {
    await seed(database.db, 1);
    const [first] = await claimTasks(database.db, { workerId: 'a', limit: 1, policy });
    expect(first?.attempts).toBe(1);
    expect(await claimTasks(database.db, { workerId: 'b', limit: 1, policy })).toHaveLength(0);

    await database.db.execute(sql`UPDATE tasks SET lease_expires_at = now() - interval '1 second'`);
    const reaped = await reapExpiredLeases(database.db, { policy });
    expect(reaped).toHaveLength(1);
    expect(reaped[0]).toMatchObject({ state: 'queued', worker_id: 'a' });

    const [second] = await claimTasks(database.db, { workerId: 'b', limit: 1, policy });
    expect(second?.id).toBe(first!.id);
    expect(second?.attempts).toBe(2);
    expect(second?.lease_token).not.toBe(first!.lease_token);

    const stale = { taskId: first!.id, token: first!.lease_token! };
    await expect(renewLease(database.db, { ...stale, progress: 0.5, policy })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(beginVerification(database.db, { ...stale, policy })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(failLease(database.db, { ...stale, outcome: 'failed', reason: 'x', policy })).rejects.toBeInstanceOf(LeaseLostError);

    const history = await rows<{ attempt: number; worker_id: string; outcome: string | null }>(
      database.db,
      sql`SELECT attempt, worker_id, outcome FROM task_attempts ORDER BY attempt`,
    );
    expect(history).toEqual([
      { attempt: 1, worker_id: 'a', outcome: 'expired' },
      { attempt: 2, worker_id: 'b', outcome: null },
    ]);
  });

  it('a completion under a lost lease is refused and cannot replace the accepted segment', async () => {
    await seed(database.db, 1);
    const [zombie] = await claimTasks(database.db, { workerId: 'zombie', limit: 1, policy });
    await database.db.execute(sql`UPDATE tasks SET lease_expires_at = now() - interval '1 second'`);
    await reapExpiredLeases(database.db, { policy });
    const [current] = await claimTasks(database.db, { workerId: 'good', limit: 1, policy });

    await beginVerification(database.db, { taskId: current!.id, token: current!.lease_token!, policy });
    const segment = { key: 'seg.a2', size: 10, sha256: 'a'.repeat(64) };
    await acceptSegment(database.db, { taskId: current!.id, token: current!.lease_token!, segment });

    const zombieLease = { taskId: zombie!.id, token: zombie!.lease_token! };
    await expect(beginVerification(database.db, { ...zombieLease, policy })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(
      acceptSegment(database.db, { ...zombieLease, segment: { key: 'seg.a1', size: 11, sha256: 'b'.repeat(64) } }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    // A duplicate of the good completion changes nothing either.
    await expect(
      acceptSegment(database.db, { taskId: current!.id, token: current!.lease_token!, segment: { ...segment, key: 'other' } }),
    ).rejects.toBeInstanceOf(LeaseLostError);

    const [row] = await rows<{ state: string; segment_key: string }>(database.db, sql`SELECT state, segment_key FROM tasks`);
    expect(row).toEqual({ state: 'done', segment_key: 'seg.a2' });
  });

  it('failures back off, and the task is dead after maxAttempts (from distinct workers)', async () => {
    await seed(database.db, 1);
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      await database.db.execute(sql`UPDATE tasks SET available_at = now()`);
      // Workers with no known address count as their own (failure-budget.ts); one worker alone could never kill the task.
      const [t] = await claimTasks(database.db, { workerId: `w${attempt}`, limit: 1, policy });
      expect(t?.attempts).toBe(attempt);
      const ended = await failLease(database.db, {
        taskId: t!.id,
        token: t!.lease_token!,
        outcome: 'failed',
        reason: `boom ${attempt}`,
        policy,
      });
      expect(ended.state).toBe(attempt < policy.maxAttempts ? 'queued' : 'dead');
      // Backoff: not leasable right away.
      expect(await claimTasks(database.db, { workerId: 'w', limit: 1, policy })).toHaveLength(0);
    }
    const [row] = await rows<{ state: string; last_error: string }>(database.db, sql`SELECT state, last_error FROM tasks`);
    expect(row).toEqual({ state: 'dead', last_error: 'boom 3' });
  });

  it('releases the leases of a worker that disconnected, and only those', async () => {
    await seed(database.db, 3);
    // One rendition per chunk here: each claim is one chunk's one rung.
    const mine = [
      ...(await claimTasks(database.db, { workerId: 'gone', limit: 2, policy })),
      ...(await claimTasks(database.db, { workerId: 'gone', limit: 2, policy })),
    ];
    expect(mine).toHaveLength(2);
    const [other] = await claimTasks(database.db, { workerId: 'stays', limit: 1, policy });
    const released = await releaseLeases(database.db, {
      workerId: 'gone',
      tokens: [...mine.map((t) => t.lease_token!), other!.lease_token!],
      outcome: 'disconnected',
      reason: 'worker disconnected',
      policy,
    });
    expect(released.map((r) => r.task_id).sort()).toEqual(mine.map((t) => t.id).sort());
    await expect(
      renewLease(database.db, { taskId: other!.id, token: other!.lease_token!, progress: 0.1, policy }),
    ).resolves.toBeUndefined();
  });
});
