/**
 * The lease model's database handle. A module of its own because the restart
 * command replaces the connection mid-run: everything reaches it through db().
 */
import { openDatabase, type Database } from '../../db/client.js';
import { openTestDatabase, type TestDatabase } from '../../db/test-database.js';

let database: Database;
let testDb: TestDatabase;
export const db = () => database.db;

export async function openModelDatabase(): Promise<void> {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_lease_model'));
}

export async function closeModelDatabase(): Promise<void> {
  await database?.close();
  await testDb?.drop();
}

/** Closes this process's connection and opens a new one to the same database. */
export async function reopenDatabase(): Promise<void> {
  await database.close();
  database = await openDatabase({ databaseUrl: testDb.url, dataDir: '/nonexistent' });
}
