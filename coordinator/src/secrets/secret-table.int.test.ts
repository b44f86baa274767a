import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { openTestDatabase, type TestDatabase } from '../db/test-database.js';
import { loadSecret } from './secret-table.js';

let database: Database;
let testDb: TestDatabase;
beforeAll(async () => {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_secrets'));
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

it('gives every caller, even racing ones, the same random 32-byte secret per name', async () => {
  const racing = await Promise.all(Array.from({ length: 8 }, () => loadSecret(database.db, 'share-links')));
  expect(racing[0]).toHaveLength(32);
  for (const s of racing) expect(s.equals(racing[0]!)).toBe(true);
  const other = await loadSecret(database.db, 'worker-credentials');
  expect(other.equals(racing[0]!)).toBe(false);
  expect((await loadSecret(database.db, 'share-links')).equals(racing[0]!)).toBe(true);
});
