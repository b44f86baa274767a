/**
 * LISTEN/NOTIFY between two coordinators' notifiers on the real PostgreSQL:
 * what one publishes reaches the other (and its own subscribers once, not
 * again as an echo), bursts are batched, garbage on the channel is ignored,
 * and a lost listening connection ends in a resync.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../db/test-database.js';
import { createLogger } from '../logger.js';
import type { Notifier, WakeEvent } from './notifier.js';
import { createPgNotifier, NOTIFY_CHANNEL } from './pg-notifier.js';

let testDb: TestDatabase;
let clientA: postgres.Sql;
let clientB: postgres.Sql;
let a: Notifier;
let b: Notifier;
const logger = createLogger('silent');

beforeAll(async () => {
  testDb = await createTestDatabase('tabgrid_notify');
  clientA = postgres(testDb.url, { max: 2, onnotice: () => {} });
  clientB = postgres(testDb.url, { max: 2, onnotice: () => {} });
  a = await createPgNotifier(clientA, logger);
  b = await createPgNotifier(clientB, logger);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await clientA?.end({ timeout: 5 });
  await clientB?.end({ timeout: 5 });
  await testDb?.drop();
});

/** Collects what `n` delivers for these kinds until `until` holds or the timeout passes. */
async function collect(n: Notifier, kinds: Parameters<Notifier['subscribe']>[0], act: () => void | Promise<void>, waitMs = 300) {
  const seen: WakeEvent[] = [];
  const off = n.subscribe(kinds, (e) => seen.push(e));
  await act();
  await new Promise((r) => setTimeout(r, waitMs));
  off();
  return seen;
}

describe('the PostgreSQL notifier', () => {
  it('carries events to the other coordinator, and to its own subscribers exactly once', async () => {
    const atB = collect(b, ['job', 'work', 'revoke'], () => undefined, 500);
    const atA = await collect(a, ['job', 'work', 'revoke'], () => {
      a.publish({ kind: 'job', jobId: 'j1' });
      a.publish({ kind: 'work' });
      a.publish({ kind: 'revoke', leaseIds: ['l1', 'l2'], reason: 'the job was canceled' });
    });
    expect(atA).toEqual([
      { kind: 'job', jobId: 'j1' },
      { kind: 'work' },
      { kind: 'revoke', leaseIds: ['l1', 'l2'], reason: 'the job was canceled' },
    ]);
    expect(await atB).toEqual(atA);
  });

  it('folds a burst of heartbeats and job changes into one event each (sent one by one, B would see 2,000)', async () => {
    const atB = await collect(b, ['progress', 'job'], () => {
      for (let i = 0; i < 1000; i++) a.publish({ kind: 'progress' });
      for (let i = 0; i < 1000; i++) a.publish({ kind: 'job', jobId: `j${i % 3}` });
    });
    expect(atB).toEqual([{ kind: 'progress' }, { kind: 'job', jobId: 'j0' }, { kind: 'job', jobId: 'j1' }, { kind: 'job', jobId: 'j2' }]);
  });

  it('ignores malformed and forged payloads on the channel', async () => {
    const atB = await collect(b, ['job', 'work', 'revoke', 'workers'], async () => {
      for (const payload of [
        'not json',
        '{"o":"x"}',
        '{"o":"x","e":[{"kind":"drop-tables"}]}',
        JSON.stringify({ o: 'x', e: [{ kind: 'revoke', leaseIds: 'all', reason: 1 }] }),
      ]) {
        await clientA`select pg_notify(${NOTIFY_CHANNEL}, ${payload})`;
      }
      await clientA`select pg_notify(${NOTIFY_CHANNEL}, ${JSON.stringify({ o: 'someone-else', e: [{ kind: 'work' }] })})`;
    });
    expect(atB).toEqual([{ kind: 'work' }]);
  });

  it('tells its subscribers to resynchronise after its listening connection was lost', async () => {
    const atB = await collect(
      b,
      ['work'],
      async () => {
        // Every backend of B's client that is LISTENing: kill it, as a database restart or a network cut would.
        await clientA`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen%'`;
      },
      3000,
    );
    expect(atB).toContainEqual({ kind: 'resync' });
    // And it hears the other coordinator again afterwards.
    const after = await collect(b, ['work'], () => a.publish({ kind: 'work' }), 500);
    expect(after).toContainEqual({ kind: 'work' });
  });
});
