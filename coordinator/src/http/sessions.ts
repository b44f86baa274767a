/**
 * Operator sessions for the dashboard, which needs a cookie because
 * EventSource, <video> and hls.js cannot send an Authorization header.
 *
 * The cookie holds `<id>.<expiry>.<mac>`, never the token: a random 128-bit
 * id, the expiry in epoch seconds, and an HMAC-SHA256 over both. The MAC key
 * is derived from the `operator-sessions` secret (secrets table, shared by
 * every coordinator on the database) *and* ADMIN_TOKEN, so changing the token
 * ends every session. A forged or altered cookie fails the MAC without a
 * query; an expired one fails its signed expiry. A live session also has a
 * row (secrets table, under a hash of its id), which logout deletes: a copy
 * of the cookie replayed after logout finds no row, on any coordinator,
 * after any restart.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/client.js';
import { deleteSession, deleteSessionsOlderThan, insertSession, loadSecret, sessionExpiry } from '../secrets/secret-table.js';

const COOKIE_RE = /^([A-Za-z0-9_-]{22})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

export interface Session {
  /** What the cookie holds. */
  readonly cookie: string;
  readonly expiresAt: Date;
  /** The row's name suffix: a hash of the id. */
  readonly digest: string;
}

export interface SessionStore {
  /** A new session, recorded, valid for the TTL. */
  create(): Promise<Session>;
  /** The live session a cookie value stands for, or undefined (forged, altered, expired, ended). */
  verify(cookie: string | undefined): Promise<Session | undefined>;
  /** Whether a session verified earlier is still live (for long-lived streams). */
  stillLive(session: Session): Promise<boolean>;
  /** Ends the session a cookie stands for, if it is live; whether it was. */
  end(cookie: string | undefined): Promise<boolean>;
}

export function createSessionStore(opts: {
  readonly db: Queryable;
  readonly adminToken: string;
  readonly ttlSeconds: number;
  readonly now?: () => number;
}): SessionStore {
  const now = opts.now ?? Date.now;
  let key: Promise<Buffer> | undefined;
  const macKey = (): Promise<Buffer> => {
    key ??= loadSecret(opts.db, 'operator-sessions').then(
      (secret) => createHmac('sha256', secret).update('tabgrid operator sessions\0').update(opts.adminToken).digest(),
      (err: unknown) => {
        key = undefined; // the database may be back next time
        throw err;
      },
    );
    return key;
  };
  const mac = async (id: string, exp: string) =>
    createHmac('sha256', await macKey())
      .update(`v1.${id}.${exp}`)
      .digest();
  const digestOf = (id: string) => createHash('sha256').update(id).digest('base64url');

  /** The session a cookie's signature vouches for, live or not; undefined when forged, altered or past its signed expiry. */
  const signed = async (cookie: string | undefined): Promise<Session | undefined> => {
    const m = cookie === undefined ? null : COOKIE_RE.exec(cookie);
    if (!m) return undefined;
    const [, id, exp, sent] = m as unknown as [string, string, string, string];
    const expected = await mac(id, exp);
    const given = Buffer.from(sent, 'base64url');
    // Only the canonical spelling: the last character's two spare bits are not part of the MAC.
    if (given.length !== expected.length || given.toString('base64url') !== sent || !timingSafeEqual(given, expected)) return undefined;
    const expiresAt = new Date(Number(exp) * 1000);
    if (expiresAt.getTime() <= now()) return undefined;
    return { cookie: cookie!, expiresAt, digest: digestOf(id) };
  };

  const live = async (session: Session): Promise<boolean> => {
    if (session.expiresAt.getTime() <= now()) return false;
    const stored = await sessionExpiry(opts.db, session.digest);
    return stored !== undefined && stored > now();
  };

  return {
    async create() {
      const id = randomBytes(16).toString('base64url');
      const exp = String(Math.floor(now() / 1000) + opts.ttlSeconds);
      const cookie = `${id}.${exp}.${(await mac(id, exp)).toString('base64url')}`;
      const session = { cookie, expiresAt: new Date(Number(exp) * 1000), digest: digestOf(id) };
      // Expired rows go as new ones come: their number stays that of the logins within one TTL.
      await deleteSessionsOlderThan(opts.db, opts.ttlSeconds);
      await insertSession(opts.db, session.digest, session.expiresAt.getTime());
      return session;
    },
    async verify(cookie) {
      const session = await signed(cookie);
      return session && (await live(session)) ? session : undefined;
    },
    stillLive: live,
    async end(cookie) {
      const session = await signed(cookie);
      return session ? deleteSession(opts.db, session.digest) : false;
    },
  };
}
