/**
 * Operator authentication through the coordinator's own app on the real
 * PostgreSQL: every /api route (taken from the app's route list, so a route
 * added without a case here fails this file) answers 401 without a
 * credential and its real answer with the bearer token and with the session
 * cookie; sessions cannot be forged or replayed after logout or expiry;
 * wrong tokens are limited per address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../app.js';
import { createOperatorAuth } from '../http/auth.js';
import { createLoginLimiter } from '../http/login-limiter.js';
import { cookieFrom, errorOf, type Fixture, login, openFixture, seedJob, TOKEN, viaSocket } from './testing/app-fixture.js';

let f: Fixture;
let app: ReturnType<typeof createApp>;
let done: string;
let running: string;

beforeAll(async () => {
  f = await openFixture('tabgrid_auth');
  // A generous limit here: the table sends a wrong token to every route; the limit has its own test below.
  app = f.app({ auth: createOperatorAuth({ config: f.ctx.config, db: f.ctx.db, limiter: createLoginLimiter({ maxFailures: 1000 }) }) });
  done = await seedJob(f, 'done');
  running = await seedJob(f, 'transcoding');
});
afterAll(async () => {
  await f?.close();
});

interface RouteCase {
  /** The concrete request. */
  readonly path: () => string;
  readonly body?: string;
  /** What it answers with a good credential: proof the request got past authentication to the route itself. */
  readonly status: number;
}

/** Every /api route the operator token guards, by `METHOD /registered/path`. */
const PROTECTED: Record<string, RouteCase> = {
  'GET /api/jobs': { path: () => '/api/jobs', status: 200 },
  'POST /api/jobs': { path: () => '/api/jobs', body: '{}', status: 400 },
  'GET /api/jobs/:id': { path: () => `/api/jobs/${done}`, status: 200 },
  'POST /api/jobs/:id/cancel': { path: () => `/api/jobs/${done}/cancel`, status: 409 },
  'POST /api/jobs/:id/retry': { path: () => `/api/jobs/${done}/retry`, status: 409 },
  'DELETE /api/jobs/:id': { path: () => `/api/jobs/${running}`, status: 409 },
  'POST /api/jobs/:id/share': { path: () => `/api/jobs/${done}/share`, body: '{}', status: 201 },
  'GET /api/jobs/:id/hls/:file': { path: () => `/api/jobs/${done}/hls/360p.m3u8`, status: 200 },
  'GET /api/jobs/:id/tasks': { path: () => `/api/jobs/${done}/tasks`, status: 200 },
  'GET /api/events': { path: () => `/api/events?topics=jobs,workers,status&job=${done}`, status: 200 },
  'GET /api/workers': { path: () => '/api/workers', status: 200 },
};
/** The routes that take no operator credential, and why. */
const PUBLIC = [
  'GET /api/session', // asks whether one is needed
  'POST /api/session', // the login
  'DELETE /api/session', // the logout
  'GET /api/shared/:capability', // the capability is the credential
  'GET /api/shared/:capability/hls/:file',
];

async function send(route: string, c: RouteCase, headers: Record<string, string>): Promise<Response> {
  const method = route.split(' ')[0]!;
  const abort = new AbortController();
  const res = await app.request(c.path(), {
    method,
    headers: { ...(c.body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    signal: abort.signal,
    ...(c.body === undefined ? {} : { body: c.body }),
  });
  if (res.headers.get('content-type')?.includes('text/event-stream')) {
    abort.abort(); // an open stream: its status is the answer
    await res.body?.cancel().catch(() => undefined);
  }
  return res;
}

describe('every /api route', () => {
  it('is either guarded with a case in this table or public by name: a new route must be added to one', () => {
    const registered = [
      ...new Set(app.routes.filter((r) => r.path.startsWith('/api/') && r.method !== 'ALL').map((r) => `${r.method} ${r.path}`)),
    ];
    expect(registered.sort()).toEqual([...Object.keys(PROTECTED), ...PUBLIC].sort());
  });

  for (const [route, c] of Object.entries(PROTECTED)) {
    it(`${route}: 401 without a credential or with a wrong one; its answer with the bearer token and with the cookie`, async () => {
      const cookie = await login(app);
      const csrf: Record<string, string> = route.startsWith('GET') ? {} : { 'x-tabgrid-request': '1' };
      const attempts: [string, Record<string, string>][] = [
        ['nothing', csrf],
        ['a wrong bearer token', { ...csrf, authorization: 'Bearer not-the-token-but-long-enough' }],
        ['the token in another scheme', { ...csrf, authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }],
        [
          'a forged cookie',
          { ...csrf, cookie: 'tabgrid_session=AAAAAAAAAAAAAAAAAAAAAA.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
        ],
      ];
      for (const [what, headers] of attempts) {
        const res = await send(route, c, headers);
        expect(res.status, `${route} with ${what}`).toBe(401);
        expect((await errorOf(res)).code).toBe('unauthorized');
        expect(res.headers.get('www-authenticate'), what).toMatch(/^Bearer realm="tabgrid"/);
      }
      const bearer = await send(route, c, { authorization: `Bearer ${TOKEN}` });
      expect(bearer.status, `${route} with the bearer token: ${bearer.status === c.status ? '' : await bearer.text()}`).toBe(c.status);
      const withCookie = await send(route, c, { ...csrf, cookie });
      expect(withCookie.status, `${route} with the cookie: ${withCookie.status === c.status ? '' : await withCookie.text()}`).toBe(
        c.status,
      );
    });
  }

  it('an unknown /api path is 401 too, so paths cannot be probed without the token', async () => {
    expect((await app.request('/api/nothing-here')).status).toBe(401);
    expect((await app.request('/api/nothing-here', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it('public routes answer without a credential', async () => {
    expect((await app.request('/api/session')).status).toBe(200);
    expect((await app.request('/api/shared/not-a-capability')).status).toBe(404);
    expect((await app.request('/api/shared/not-a-capability/hls/master.m3u8')).status).toBe(404);
    expect((await app.request('/healthz')).status).toBe(200);
  });
});

describe('sessions', () => {
  it('a login sets an HttpOnly, SameSite=Strict cookie that holds a signed session, never the token', async () => {
    const res = await app.request('/api/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { required: boolean; authenticated: boolean; expiresAt: string };
    expect(body).toMatchObject({ required: true, authenticated: true });
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(7 * 24 * 3600_000 - 60_000);
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^tabgrid_session=[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}; /);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).not.toMatch(/Secure/); // PUBLIC_URL is not https here
    expect(setCookie).not.toContain(TOKEN);
    const status = await app.request('/api/session', { headers: { cookie: cookieFrom(res) } });
    expect(await status.json()).toEqual({ required: true, authenticated: true, expiresAt: body.expiresAt });
    expect(await (await app.request('/api/session')).json()).toEqual({ required: true, authenticated: false, expiresAt: null });
  });

  it('is Secure and __Host- prefixed when PUBLIC_URL is https', async () => {
    const https = f.app({}, { ADMIN_TOKEN: TOKEN, PUBLIC_URL: 'https://grid.example' });
    const res = await https.request('/api/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://grid.example' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/^__Host-tabgrid_session=.*; Secure/);
    expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=\d+$/);
    const jobs = await https.request('/api/jobs', { headers: { cookie: cookieFrom(res) } });
    expect(jobs.status).toBe(200);
    // The same value under the plain name is not read: only the prefixed cookie, which only https can set.
    expect((await https.request('/api/jobs', { headers: { cookie: cookieFrom(res).replace('__Host-', '') } })).status).toBe(401);
  });

  it('after logout the same cookie is refused, on this app and on another sharing the database', async () => {
    const cookie = await login(app);
    const other = f.app(); // another coordinator on the same database
    expect((await other.request('/api/jobs', { headers: { cookie } })).status).toBe(200);
    const out = await app.request('/api/session', { method: 'DELETE', headers: { cookie, 'x-tabgrid-request': '1' } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^tabgrid_session=; Max-Age=0/);
    for (const a of [app, other]) {
      const replayed = await a.request('/api/jobs', { headers: { cookie } });
      expect(replayed.status).toBe(401);
      expect((await errorOf(replayed)).message).toMatch(/session has ended/);
    }
    // Logging out again, or without a session, changes nothing and says so quietly.
    expect((await app.request('/api/session', { method: 'DELETE', headers: { cookie, 'x-tabgrid-request': '1' } })).status).toBe(204);
  });

  it('an expired session is refused, and a changed ADMIN_TOKEN ends every session', async () => {
    let now = Date.now();
    const clocked = f.app({ auth: createOperatorAuth({ config: f.ctx.config, db: f.ctx.db, now: () => now }) });
    const cookie = await login(clocked);
    expect((await clocked.request('/api/workers', { headers: { cookie } })).status).toBe(200);
    now += f.ctx.config.sessionTtlSeconds * 1000 + 1000;
    expect((await clocked.request('/api/workers', { headers: { cookie } })).status).toBe(401);

    const fresh = await login(app);
    const rotated = f.app({}, { ADMIN_TOKEN: `${TOKEN}-rotated` });
    expect((await rotated.request('/api/workers', { headers: { cookie: fresh } })).status).toBe(401);
  });

  it('refuses a malformed, oversized or wrong login in words', async () => {
    const post = (body: string, type = 'application/json') =>
      app.request('/api/session', { method: 'POST', headers: { 'content-type': type, 'x-tabgrid-request': '1' }, body });
    const wrong = await post(JSON.stringify({ token: 'a-wrong-token-of-decent-length' }));
    expect(wrong.status).toBe(401);
    expect(await errorOf(wrong)).toEqual({ code: 'unauthorized', message: 'wrong token: it is not this coordinator’s ADMIN_TOKEN' });
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="tabgrid", error="invalid_token"');
    expect(wrong.headers.get('set-cookie')).toBeNull();
    for (const bad of ['', 'not json', '{}', JSON.stringify({ token: 42 }), JSON.stringify({ token: TOKEN, admin: true })]) {
      const res = await post(bad);
      expect(res.status, bad).toBe(400);
      expect((await errorOf(res)).message).toMatch(/send \{ "token"/);
    }
    const huge = await post(JSON.stringify({ token: 'x'.repeat(100_000) }));
    expect(huge.status).toBe(413);
  });

  it('an event stream opened with a session ends when the session is ended, and when it expires', async () => {
    const live = f.app({ sessionRecheckMs: 200 });
    const read = async (cookie: string) => {
      const res = await live.request('/api/events?topics=status', { headers: { cookie } });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      await reader.read(); // the stream is open
      return new Promise<'ended'>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the stream outlived its session by 5 s')), 5000);
        const drain = (): void => {
          reader.read().then((r) => {
            if (r.done) {
              clearTimeout(timer);
              resolve('ended');
            } else drain();
          }, reject);
        };
        drain();
      });
    };
    const cookie = await login(live);
    const ending = read(cookie);
    await new Promise((r) => setTimeout(r, 300));
    await live.request('/api/session', { method: 'DELETE', headers: { cookie, 'x-tabgrid-request': '1' } });
    expect(await ending).toBe('ended');

    const short = f.app({ auth: createOperatorAuth({ config: { ...f.ctx.config, sessionTtlSeconds: 2 }, db: f.ctx.db }) });
    const res = await short.request('/api/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    const brief = cookieFrom(res);
    const stream = await short.request('/api/events?topics=status', { headers: { cookie: brief } });
    const reader = stream.body!.getReader();
    const started = Date.now();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      if (Date.now() - started > 6000) throw new Error('the stream outlived its session');
    }
    expect(Date.now() - started).toBeLessThan(6000);
  });
});

describe('wrong tokens', () => {
  /** Over a socket, the Host is checked: these come the way the dashboard's would. */
  const HOST = { host: '127.0.0.1:8000' };

  it('five wrong logins from one address lock it out (even the right token gets 429), other addresses not', async () => {
    const limited = f.app();
    const attacker = viaSocket('198.51.100.7');
    const attempt = (token: string, env: object) =>
      limited.request(
        '/api/session',
        { method: 'POST', headers: { ...HOST, 'content-type': 'application/json' }, body: JSON.stringify({ token }) },
        env,
      );
    for (let i = 0; i < 5; i++) expect((await attempt(`guess-number-${i}-of-many-guesses`, attacker)).status).toBe(401);
    const locked = await attempt(TOKEN, attacker);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(800);
    expect(await errorOf(locked)).toMatchObject({ code: 'too_many_requests', message: expect.stringMatching(/try again in \d+ s/) });
    expect(locked.headers.get('set-cookie')).toBeNull();
    // Bearer guesses from there are locked out too.
    const bearer = await limited.request('/api/jobs', { headers: { ...HOST, authorization: `Bearer ${TOKEN}` } }, attacker);
    expect(bearer.status).toBe(429);
    // Another address (the same /64 would count as one), and the operators' cookie, are unaffected.
    expect((await attempt(TOKEN, viaSocket('198.51.100.8'))).status).toBe(200);
  });

  it('wrong bearer tokens count too: a script cannot guess through the API instead of the login', async () => {
    const limited = f.app();
    const from = viaSocket('2001:db8:7:7::1');
    for (let i = 0; i < 5; i++) {
      expect(
        (await limited.request('/api/workers', { headers: { ...HOST, authorization: `Bearer guess-${i}-xxxxxxxxxxxxxxxxxxxxx` } }, from))
          .status,
      ).toBe(401);
    }
    // A neighbour in the same /64 is the same client.
    const next = await limited.request(
      '/api/workers',
      { headers: { ...HOST, authorization: `Bearer ${TOKEN}` } },
      viaSocket('2001:db8:7:7::2'),
    );
    expect(next.status).toBe(429);
  });
});
