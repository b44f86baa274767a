/**
 * The `secrets` table: random signing keys every coordinator on the database
 * shares (a credential one coordinator signs, another must verify), and the
 * operators' live dashboard sessions.
 *
 * loadSecret(q, name) → 32 random bytes, the same for every caller. The first
 * caller's random value wins (INSERT … ON CONFLICT DO NOTHING, then read), so
 * coordinators starting together agree without a lock. Never logged, never
 * shown by any API.
 *
 * Sessions are rows named `session:<digest>`, where the digest is a hash of
 * the session id the cookie carries (never the id itself), and the value is
 * the session's expiry in epoch milliseconds. The cookie is signed, so a
 * forged one is refused without a query; the row is what lets a logout end a
 * session on every coordinator at once, and outlive a restart
 * (see http/sessions.ts).
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { type Queryable, rows } from '../db/client.js';

export type SecretName = 'worker-credentials' | 'share-links' | 'operator-sessions';

export async function loadSecret(q: Queryable, name: SecretName): Promise<Buffer> {
  const candidate = randomBytes(32).toString('base64url');
  await q.execute(sql`INSERT INTO secrets (name, value) VALUES (${name}, ${candidate}) ON CONFLICT (name) DO NOTHING`);
  const [row] = await rows<{ value: string }>(q, sql`SELECT value FROM secrets WHERE name = ${name}`);
  if (!row) throw new Error(`secret ${name} could not be created`);
  return Buffer.from(row.value, 'base64url');
}

const SESSION_PREFIX = 'session:';

/** insertSession(q, digest, expiresAtMs) → nothing; records a live session (a digest is unique: ids are 128 random bits). */
export async function insertSession(q: Queryable, digest: string, expiresAtMs: number): Promise<void> {
  await q.execute(sql`INSERT INTO secrets (name, value) VALUES (${SESSION_PREFIX + digest}, ${String(expiresAtMs)})`);
}

/** sessionExpiry(q, digest) → the session's expiry in epoch ms, or undefined once it was ended (or never existed). */
export async function sessionExpiry(q: Queryable, digest: string): Promise<number | undefined> {
  const [row] = await rows<{ value: string }>(q, sql`SELECT value FROM secrets WHERE name = ${SESSION_PREFIX + digest}`);
  return row ? Number(row.value) : undefined;
}

/** deleteSession(q, digest) → whether a live session was ended. */
export async function deleteSession(q: Queryable, digest: string): Promise<boolean> {
  const ended = await rows<{ name: string }>(q, sql`DELETE FROM secrets WHERE name = ${SESSION_PREFIX + digest} RETURNING name`);
  return ended.length > 0;
}

/**
 * deleteSessionsOlderThan(q, seconds) → how many session rows were removed:
 * those created more than `seconds` ago, which have expired (no session
 * lives longer than the TTL it was created with; `seconds` is the longest).
 */
export async function deleteSessionsOlderThan(q: Queryable, seconds: number): Promise<number> {
  const removed = await rows<{ name: string }>(
    q,
    sql`DELETE FROM secrets WHERE name LIKE ${`${SESSION_PREFIX}%`} AND created_at < now() - make_interval(secs => ${seconds}) RETURNING name`,
  );
  return removed.length;
}
