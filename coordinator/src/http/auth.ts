/**
 * Operator authentication for /api. With ADMIN_TOKEN set, every /api route
 * but the login itself (/api/session) and share links (/api/shared/…, whose
 * capability is their own credential) needs one of:
 *
 *   - `Authorization: Bearer <ADMIN_TOKEN>` (CLI, scripts, tests), compared
 *     in constant time (both sides hashed first, so not even the length leaks);
 *   - the session cookie POST /api/session sets (the dashboard: EventSource,
 *     <video> and hls.js cannot send headers), see sessions.ts.
 *
 * Without either: 401 `unauthorized` with `WWW-Authenticate: Bearer`. A wrong
 * token (bearer or login) counts against the client's address
 * (login-limiter.ts). Without ADMIN_TOKEN everything is open, which config.ts
 * allows only on a loopback HOST.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Config } from '../config.js';
import type { Queryable } from '../db/client.js';
import { TooManyRequestsError, UnauthorizedError } from '../errors.js';
import { clientKey, createLoginLimiter, type LoginLimiter } from './login-limiter.js';
import { createSessionStore, type Session, type SessionStore } from './sessions.js';

/** Routes under /api that authenticate by other means, or are the login. */
const PUBLIC_API = /^\/api\/(?:session$|shared\/)/;

/** How a request was let in. */
export type OperatorCredential =
  | { readonly via: 'open' }
  | { readonly via: 'bearer' }
  | { readonly via: 'session'; readonly session: Session; readonly stillLive: () => Promise<boolean> };

declare module 'hono' {
  interface ContextVariableMap {
    /** The credential the auth middleware accepted for this request (unset on public routes). */
    operator: OperatorCredential;
  }
}

export interface OperatorAuth {
  /** Whether ADMIN_TOKEN is set. */
  readonly required: boolean;
  /** Guards /api/* but the public routes. */
  readonly middleware: MiddlewareHandler;
  /** What GET /api/session answers: is a credential needed, and does this request carry a good one? */
  status(c: Context): Promise<{ required: boolean; authenticated: boolean; expiresAt: string | null }>;
  /** POST /api/session: checks the token (within the limit) and sets the session cookie. */
  login(c: Context, token: string): Promise<Session>;
  /** DELETE /api/session: ends the cookie's session (if any) and clears the cookie. */
  logout(c: Context): Promise<void>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

export function createOperatorAuth(opts: {
  readonly config: Pick<Config, 'adminToken' | 'sessionTtlSeconds' | 'publicUrl'>;
  readonly db: Queryable;
  readonly limiter?: LoginLimiter;
  readonly now?: () => number;
}): OperatorAuth {
  const token = opts.config.adminToken;
  const limiter = opts.limiter ?? createLoginLimiter(opts.now ? { now: opts.now } : {});
  const https = opts.config.publicUrl?.startsWith('https:') ?? false;
  // __Host-: the browser refuses it from http and from any other host or path (https only).
  const cookieOptions = https ? ({ prefix: 'host', secure: true } as const) : ({} as const);
  const cookieName = 'tabgrid_session';
  const sessions: SessionStore | undefined =
    token === undefined
      ? undefined
      : createSessionStore({
          db: opts.db,
          adminToken: token,
          ttlSeconds: opts.config.sessionTtlSeconds,
          ...(opts.now ? { now: opts.now } : {}),
        });
  const tokenDigest = token === undefined ? undefined : sha256(token);

  /** Checks a presented token within the client's failed-attempt limit; throws 429 or 401. */
  const checkToken = (c: Context, given: string): void => {
    const client = clientKey(c.env);
    const verdict = limiter.check(client);
    if (!verdict.allowed) {
      throw new TooManyRequestsError(
        `too many wrong tokens from this address: try again in ${verdict.retryAfterSeconds} s`,
        verdict.retryAfterSeconds,
      );
    }
    if (tokenDigest !== undefined && timingSafeEqual(sha256(given), tokenDigest)) {
      limiter.succeed(client);
      return;
    }
    limiter.fail(client);
    throw new UnauthorizedError('wrong token: it is not this coordinator’s ADMIN_TOKEN', true);
  };

  const bearerOf = (c: Context): string | undefined => {
    const header = c.req.header('authorization');
    if (header === undefined) return undefined;
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (!m) throw new UnauthorizedError('the Authorization header must be "Bearer <ADMIN_TOKEN>"', true);
    return m[1]!;
  };

  const cookieOf = (c: Context) => getCookie(c, cookieName, cookieOptions.prefix);

  const middleware: MiddlewareHandler = async (c, next) => {
    if (!sessions || PUBLIC_API.test(c.req.path)) {
      if (!sessions) c.set('operator', { via: 'open' });
      return next();
    }
    const bearer = bearerOf(c);
    if (bearer !== undefined) {
      checkToken(c, bearer);
      c.set('operator', { via: 'bearer' });
      return next();
    }
    const cookie = cookieOf(c);
    if (cookie !== undefined) {
      const session = await sessions.verify(cookie);
      if (!session) throw new UnauthorizedError('your session has ended (logged out, expired, or the token changed): log in again');
      c.set('operator', { via: 'session', session, stillLive: () => sessions.stillLive(session) });
      return next();
    }
    throw new UnauthorizedError(
      'this coordinator needs its operator token (ADMIN_TOKEN): send "Authorization: Bearer <token>", or log in on the dashboard',
    );
  };

  return {
    required: sessions !== undefined,
    middleware,
    async status(c) {
      if (!sessions) return { required: false, authenticated: true, expiresAt: null };
      const bearer = bearerOf(c);
      if (bearer !== undefined) {
        checkToken(c, bearer);
        return { required: true, authenticated: true, expiresAt: null };
      }
      const session = await sessions.verify(cookieOf(c));
      return { required: true, authenticated: session !== undefined, expiresAt: session?.expiresAt.toISOString() ?? null };
    },
    async login(c, given) {
      if (!sessions) throw new Error('login without ADMIN_TOKEN');
      checkToken(c, given);
      const session = await sessions.create();
      setCookie(c, cookieName, session.cookie, {
        ...cookieOptions,
        httpOnly: true,
        sameSite: 'Strict',
        path: '/',
        expires: session.expiresAt,
      });
      return session;
    },
    async logout(c) {
      if (sessions) await sessions.end(cookieOf(c));
      deleteCookie(c, cookieName, { ...cookieOptions, path: '/', httpOnly: true, sameSite: 'Strict' });
    },
  };
}
