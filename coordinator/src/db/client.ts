/**
 * Opens the database: embedded PGlite under DATA_DIR when DATABASE_URL is
 * unset, otherwise PostgreSQL through postgres.js. Both are driven through
 * drizzle; `rows()` runs raw SQL (the lease statements) on either.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { type SQL, sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle or the database itself: both run queries. */
export type Queryable = Pick<Db, 'execute' | 'select' | 'insert' | 'update' | 'delete'>;

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Db;
  /** The postgres.js client underneath, for LISTEN/NOTIFY (notify/pg-notifier.ts); null on PGlite. */
  readonly pgClient: postgres.Sql | null;
  close(): Promise<void>;
}

const migrationsFolder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');
/** Arbitrary but fixed: serialises migrations when several coordinators start together. */
const MIGRATION_LOCK_ID = 727_001;

/** Runs raw SQL and returns its rows, whichever driver is underneath. */
export async function rows<T>(q: Pick<Db, 'execute'>, query: SQL): Promise<T[]> {
  const result = (await q.execute(query)) as unknown;
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

export async function openDatabase(opts: { databaseUrl: string | undefined; dataDir: string }): Promise<Database> {
  if (opts.databaseUrl === undefined) {
    const client = new PGlite(path.join(opts.dataDir, 'pg'));
    await client.waitReady;
    const db = drizzlePglite(client, { schema }) as unknown as Db;
    await migratePglite(db as never, { migrationsFolder });
    return { kind: 'pglite', db, pgClient: null, close: () => client.close() };
  }
  await migrateWithLock(opts.databaseUrl);
  const client = postgres(opts.databaseUrl, {
    max: 10,
    onnotice: () => {},
    // Fail fast while the server is down instead of queueing forever; callers retry.
    connect_timeout: 5,
    idle_timeout: 60,
  });
  const db = drizzlePostgres(client, { schema }) as unknown as Db;
  return { kind: 'postgres', db, pgClient: client, close: () => client.end({ timeout: 5 }) };
}

/** Applies checked-in migrations on one dedicated connection under an advisory lock. */
async function migrateWithLock(databaseUrl: string): Promise<void> {
  const client = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    try {
      await migratePostgres(drizzlePostgres(client), { migrationsFolder });
    } finally {
      await client`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}

/** pingDatabase(q) → void: one trivial query; rejects while the database does not answer. */
export async function pingDatabase(q: Pick<Db, 'execute'>): Promise<void> {
  await q.execute(sql`select 1`);
}
