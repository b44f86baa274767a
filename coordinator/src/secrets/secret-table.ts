/**
 * The `secrets` table: random signing keys every coordinator on the database
 * shares (a credential one coordinator signs, another must verify).
 *
 * loadSecret(q, name) → 32 random bytes, the same for every caller. The first
 * caller's random value wins (INSERT … ON CONFLICT DO NOTHING, then read), so
 * coordinators starting together agree without a lock. Never logged, never
 * shown by any API.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { type Queryable, rows } from '../db/client.js';

export type SecretName = 'worker-credentials' | 'share-links';

export async function loadSecret(q: Queryable, name: SecretName): Promise<Buffer> {
  const candidate = randomBytes(32).toString('base64url');
  await q.execute(sql`INSERT INTO secrets (name, value) VALUES (${name}, ${candidate}) ON CONFLICT (name) DO NOTHING`);
  const [row] = await rows<{ value: string }>(q, sql`SELECT value FROM secrets WHERE name = ${name}`);
  if (!row) throw new Error(`secret ${name} could not be created`);
  return Buffer.from(row.value, 'base64url');
}
