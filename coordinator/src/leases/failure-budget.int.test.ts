/**
 * The failure budget and the address quarantine in the lease SQL, on the real
 * PostgreSQL: a task dies only when failures from MAX_ATTEMPTS distinct
 * addresses ended it, whatever ended them (failed, expired, disconnected);
 * a new identity at a quarantined worker's address claims nothing, an
 * established one does.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rows, type Database } from '../db/client.js';
import { jobs, tasks, workers } from '../db/schema.js';
import { openTestDatabase, type TestDatabase } from '../db/test-database.js';
import { pruneIdleWorkers } from '../workers/worker-table.js';
import { claimOutlook, claimTasks, claimableExists, failLease, reapExpiredLeases, releaseLeases } from './index.js';
import type { LeasePolicy } from './types.js';

const policy: LeasePolicy = { ttlSeconds: 30, maxAttempts: 3 };
let database: Database;
let testDb: TestDatabase;
const db = () => database.db;

beforeAll(async () => {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_budget'));
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});
beforeEach(async () => {
  await db().execute(sql`TRUNCATE jobs, workers CASCADE`);
});

async function seedTask(): Promise<string> {
  const jobId = randomUUID();
  await db()
    .insert(jobs)
    .values({ id: jobId, name: 'b.mp4', state: 'transcoding', requestedRenditions: ['360p'], sourceKey: 'k', sourceSize: 1 });
  const id = randomUUID();
  await db()
    .insert(tasks)
    .values({
      id,
      jobId,
      chunkIndex: 0,
      rendition: '360p',
      params: {
        rendition: '360p',
        codec: 'h264',
        width: 640,
        height: 360,
        rotation: 0,
        crf: 23,
        maxrateKbps: 800,
        bufsizeKbps: 1600,
        preset: 'veryfast',
        frames: 120,
      },
      chunkKey: 'c0',
      chunkSize: 100,
    });
  return id;
}

async function worker(id: string, address: string | null, extra: { tasksDone?: number; quarantined?: boolean } = {}): Promise<string> {
  await db()
    .insert(workers)
    .values({ id, capabilities: {}, address, tasksDone: extra.tasksDone ?? 0 });
  if (extra.quarantined) await db().execute(sql`UPDATE workers SET quarantined_until = now() + interval '1 hour' WHERE id = ${id}`);
  return id;
}

type Ender = 'failed' | 'expired' | 'disconnected';
/** Claims the task for `workerId` and ends the lease the way `how` says; returns the state it went to. */
async function claimAndEnd(workerId: string, how: Ender): Promise<string> {
  await db().execute(sql`UPDATE tasks SET available_at = now()`);
  const [t] = await claimTasks(db(), { workerId, limit: 1, policy });
  if (!t) throw new Error(`${workerId} claimed nothing`);
  if (how === 'failed')
    return (await failLease(db(), { taskId: t.id, token: t.lease_token!, outcome: 'failed', reason: 'x', policy })).state;
  if (how === 'expired') {
    await db().execute(sql`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = ${t.id}`);
    return (await reapExpiredLeases(db(), { policy }))[0]!.state;
  }
  return (await releaseLeases(db(), { workerId, tokens: [t.lease_token!], outcome: 'disconnected', reason: 'x', policy }))[0]!.state;
}

describe('the failure budget', () => {
  it('one worker failing again and again never kills the task', async () => {
    await seedTask();
    await worker('alone', '203.0.113.1');
    for (let i = 0; i < 2 * policy.maxAttempts; i++) expect(await claimAndEnd('alone', 'failed')).toBe('queued');
  });

  it('many identities from one address, failing, expiring and disconnecting, never kill it', async () => {
    await seedTask();
    const hows: Ender[] = ['failed', 'expired', 'disconnected', 'failed', 'expired', 'disconnected'];
    for (const [i, how] of hows.entries()) expect(await claimAndEnd(await worker(`nat${i}`, '203.0.113.2'), how)).toBe('queued');
  });

  it('MAX_ATTEMPTS distinct addresses kill it, whatever ended each attempt; repeats in between do not count', async () => {
    await seedTask();
    const a = await worker('a', '203.0.113.10');
    const a2 = await worker('a2', '203.0.113.10');
    const b = await worker('b', '2001:db8:1:2::/64');
    const c = await worker('c', '198.51.100.7');
    expect(await claimAndEnd(a, 'expired')).toBe('queued');
    expect(await claimAndEnd(a2, 'failed')).toBe('queued');
    expect(await claimAndEnd(b, 'disconnected')).toBe('queued');
    expect(await claimAndEnd(b, 'failed')).toBe('queued');
    expect(await claimAndEnd(c, 'failed')).toBe('dead');
    const [row] = await rows<{ state: string; attempts: number }>(db(), sql`SELECT state, attempts FROM tasks`);
    expect(row).toEqual({ state: 'dead', attempts: 5 });
  });

  it('workers with no known address count as their own; a retry starts the count over', async () => {
    await seedTask();
    for (const id of ['x1', 'x2']) expect(await claimAndEnd(await worker(id, null), 'failed')).toBe('queued');
    expect(await claimAndEnd(await worker('x3', null), 'failed')).toBe('dead');
    await db().execute(sql`UPDATE tasks SET state = 'queued', retry_base = attempts, available_at = now()`);
    for (const id of ['x1', 'x2']) expect(await claimAndEnd(id, 'failed')).toBe('queued');
    expect(await claimAndEnd('x3', 'failed')).toBe('dead');
  });
});

describe('claims and the address quarantine', () => {
  it('blocks the quarantined worker and new identities at its address, not established ones nor other addresses', async () => {
    await seedTask();
    await worker('bad', '203.0.113.20', { quarantined: true });
    await worker('dodger', '203.0.113.20');
    await worker('sibling', '203.0.113.20', { tasksDone: 4 });
    await worker('elsewhere', '203.0.113.21');
    expect(await claimableExists(db())).toBe(true);
    for (const id of ['bad', 'dodger']) {
      expect(await claimTasks(db(), { workerId: id, limit: 1, policy }), id).toEqual([]);
      const outlook = await claimOutlook(db(), id);
      expect(outlook.workLeft).toBe(true);
      expect(outlook.blockedUntil!.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    }
    expect(await claimOutlook(db(), 'sibling')).toEqual({ workLeft: true, blockedUntil: null });
    expect(await claimTasks(db(), { workerId: 'sibling', limit: 1, policy })).toHaveLength(1);
    expect(await claimableExists(db())).toBe(false);
    expect(await claimOutlook(db(), 'elsewhere')).toEqual({ workLeft: false, blockedUntil: null });
  });

  it('the block ends with the quarantine', async () => {
    await seedTask();
    await worker('bad', '203.0.113.30', { quarantined: true });
    await worker('dodger', '203.0.113.30');
    await db().execute(sql`UPDATE workers SET quarantined_until = now() - interval '1 second' WHERE id = 'bad'`);
    expect(await claimTasks(db(), { workerId: 'dodger', limit: 1, policy })).toHaveLength(1);
  });
});

describe('pruneIdleWorkers', () => {
  it('forgets workers that never did anything and left long ago, and keeps every one with a history', async () => {
    await seedTask();
    for (const id of ['idle-old', 'idle-recent', 'connected', 'with-attempt', 'counted', 'quarantined']) await worker(id, '203.0.113.40');
    await db().execute(sql`UPDATE workers SET disconnected_at = now() - interval '2 hours' WHERE id <> 'connected'`);
    await db().execute(sql`UPDATE workers SET disconnected_at = now() WHERE id = 'idle-recent'`);
    await db().execute(sql`UPDATE workers SET tasks_failed = 1 WHERE id = 'counted'`);
    await db().execute(sql`UPDATE workers SET quarantined_until = now() - interval '1 hour' WHERE id = 'quarantined'`);
    await claimAndEnd('with-attempt', 'disconnected');
    expect(await pruneIdleWorkers(db(), { olderThanSeconds: 3600 })).toBe(1);
    const left = await rows<{ id: string }>(db(), sql`SELECT id FROM workers ORDER BY id`);
    expect(left.map((r) => r.id)).toEqual(['connected', 'counted', 'idle-recent', 'quarantined', 'with-attempt']);
  });
});
