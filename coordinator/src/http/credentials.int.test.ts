/**
 * Session cookies and share-link capabilities against the real PostgreSQL
 * (their keys and the live-session rows are in the secrets table): forged,
 * altered, expired, ended and foreign credentials are all refused.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, rows } from '../db/client.js';
import { openTestDatabase, type TestDatabase } from '../db/test-database.js';
import { createSessionStore } from './sessions.js';
import { createShareLinks } from './share-links.js';

const TOKEN = 'correct-horse-battery-staple-42';
let database: Database;
let testDb: TestDatabase;
let other: { database: Database; test: TestDatabase };

beforeAll(async () => {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_credentials'));
  other = await openTestDatabase('tabgrid_credentials_other');
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
  await other?.database.close();
  await other?.test.drop();
});

/** Changes one character of `s` at `index` to another from the same alphabet. */
function alter(s: string, index: number): string {
  const c = s[index]!;
  return s.slice(0, index) + (c === 'A' ? 'B' : 'A') + s.slice(index + 1);
}

describe('sessions', () => {
  it('verifies its own cookie, and refuses every altered, truncated or extended copy', async () => {
    const store = createSessionStore({ db: database.db, adminToken: TOKEN, ttlSeconds: 3600 });
    const { cookie, expiresAt } = await store.create();
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}$/);
    expect(cookie).not.toContain(TOKEN);
    expect((await store.verify(cookie))?.expiresAt).toEqual(expiresAt);
    const [id, exp, mac] = cookie.split('.') as [string, string, string];
    const forged = [
      alter(cookie, 0), // another id
      `${id}.${Number(exp) + 3600}.${mac}`, // a later expiry
      `${id}.${exp}.${alter(mac, 10)}`,
      `${id}.${exp}.${alter(mac, 42)}`, // the last character, spare bits included
      `${id}.${exp}.${mac.slice(0, -1)}`,
      `${cookie}A`,
      `${id}.${exp}`,
      '',
      'x'.repeat(5000),
    ];
    for (const f of forged) expect(await store.verify(f), f.slice(0, 80)).toBeUndefined();
    expect(await store.verify(undefined)).toBeUndefined();
  });

  it('refuses a cookie signed for another ADMIN_TOKEN or by another database', async () => {
    const mine = await createSessionStore({ db: database.db, adminToken: TOKEN, ttlSeconds: 3600 }).create();
    expect(
      await createSessionStore({ db: database.db, adminToken: `${TOKEN}-rotated`, ttlSeconds: 3600 }).verify(mine.cookie),
    ).toBeUndefined();
    expect(await createSessionStore({ db: other.database.db, adminToken: TOKEN, ttlSeconds: 3600 }).verify(mine.cookie)).toBeUndefined();
  });

  it('ends at its expiry, and a logout ends it everywhere: the same cookie replayed is refused', async () => {
    let now = Date.now();
    const store = createSessionStore({ db: database.db, adminToken: TOKEN, ttlSeconds: 60, now: () => now });
    const session = await store.create();
    now += 59_000;
    expect(await store.verify(session.cookie)).toBeDefined();
    now += 2000;
    expect(await store.verify(session.cookie)).toBeUndefined();

    now = Date.now();
    const live = await store.create();
    // Another coordinator on the same database (its own store, its own cache) sees the same session…
    const elsewhere = createSessionStore({ db: database.db, adminToken: TOKEN, ttlSeconds: 60, now: () => now });
    expect(await elsewhere.verify(live.cookie)).toBeDefined();
    expect(await store.end(live.cookie)).toBe(true);
    // …and its end: the cookie is still well signed and unexpired, but no longer live.
    expect(await elsewhere.verify(live.cookie)).toBeUndefined();
    expect(await elsewhere.stillLive(live)).toBe(false);
    expect(await store.end(live.cookie)).toBe(false);
    expect(await store.end('forged.1.x')).toBe(false);
  });

  it('keeps no more rows than live sessions: expired ones go as new ones come', async () => {
    let now = Date.now();
    const store = createSessionStore({ db: database.db, adminToken: TOKEN, ttlSeconds: 1, now: () => now });
    await store.create();
    await new Promise((r) => setTimeout(r, 1100)); // the rows' created_at is the database's clock
    now += 1100;
    await store.create();
    const [old] = await rows<{ n: number }>(
      database.db,
      sql`SELECT count(*)::int AS n FROM secrets WHERE name LIKE 'session:%' AND created_at < now() - interval '1 second'`,
    );
    expect(old!.n).toBe(0);
    const [live] = await rows<{ n: number }>(database.db, sql`SELECT count(*)::int AS n FROM secrets WHERE name LIKE 'session:%'`);
    expect(live!.n).toBeGreaterThanOrEqual(1);
  });
});

describe('share links', () => {
  const job = randomUUID();

  it('opens its own capability until it expires, and names the job it was made for', async () => {
    let now = Date.now();
    const links = createShareLinks({ db: database.db, now: () => now });
    const expiresAt = new Date(Math.floor(now / 1000) * 1000 + 3600_000);
    const capability = await links.issue(job, expiresAt);
    expect(capability).toMatch(/^[A-Za-z0-9_-]{71}$/);
    expect(await links.open(capability)).toEqual({ jobId: job, expiresAt });
    now = expiresAt.getTime();
    expect(await links.open(capability)).toBeUndefined();
  });

  it('refuses a capability altered anywhere, cut, extended, or signed by another database', async () => {
    const links = createShareLinks({ db: database.db });
    const capability = await links.issue(job, new Date(Date.now() + 3600_000));
    for (let i = 0; i < capability.length; i++) expect(await links.open(alter(capability, i)), `position ${i}`).toBeUndefined();
    for (const bad of [capability.slice(1), `${capability}A`, '', '../../etc/passwd', capability.toUpperCase()]) {
      expect(await links.open(bad), bad).toBeUndefined();
    }
    const foreign = await createShareLinks({ db: other.database.db }).issue(job, new Date(Date.now() + 3600_000));
    expect(await links.open(foreign)).toBeUndefined();
  });

  it('is unforgeable for another job: a capability for one job never opens another', async () => {
    const links = createShareLinks({ db: database.db });
    const a = await links.issue(job, new Date(Date.now() + 3600_000));
    const b = await links.issue(randomUUID(), new Date(Date.now() + 3600_000));
    // Splicing one's signed part onto the other's payload does not verify.
    expect(await links.open(a.slice(0, 28) + b.slice(28))).toBeUndefined();
  });
});
