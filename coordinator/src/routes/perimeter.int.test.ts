/**
 * The rest of the HTTP perimeter through the coordinator's own app: no state
 * change from a simple or foreign-origin request (CSRF), no answer under a
 * foreign Host (DNS rebinding), and security headers on every kind of
 * response, the storage gateway's and the refusals' included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../app.js';
import { getJob } from '../jobs/job-table.js';
import { createLogger } from '../logger.js';
import { createStorageGateway } from '../storage/gateway.js';
import { errorOf, type Fixture, login, openFixture, seedJob, TOKEN, viaSocket } from './testing/app-fixture.js';

let f: Fixture;
let app: ReturnType<typeof createApp>;
let cookie: string;
let done: string;
let running: string;

beforeAll(async () => {
  f = await openFixture('tabgrid_perimeter');
  app = f.app({
    // The real gateway, in front of an upstream nobody listens on: only its refusals are asked for here.
    storageGateway: {
      path: '/storage',
      app: createStorageGateway({
        bucket: 'storage',
        upstream: new URL('http://127.0.0.1:9'),
        accessKey: 'k',
        secretKey: 's',
        region: 'us-east-1',
        logger: createLogger('silent'),
      }),
    },
  });
  cookie = await login(app);
  done = await seedJob(f, 'done');
  running = await seedJob(f, 'transcoding');
});
afterAll(async () => {
  await f?.close();
});

describe('CSRF: no state change from another site', () => {
  /** Every route that changes something, as a form on another page could post it (with the operator's cookie, same-site). */
  const changes = () => [
    { what: 'cancel', method: 'POST', path: `/api/jobs/${running}/cancel` },
    { what: 'retry', method: 'POST', path: `/api/jobs/${done}/retry` },
    { what: 'delete', method: 'DELETE', path: `/api/jobs/${done}` },
    { what: 'upload', method: 'POST', path: '/api/jobs' },
    { what: 'share', method: 'POST', path: `/api/jobs/${done}/share` },
    { what: 'logout', method: 'DELETE', path: '/api/session' },
  ];

  it('refuses a text/plain (or form) request to each with the operator’s cookie, and changes nothing', async () => {
    for (const c of changes()) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=----x']) {
        const res = await app.request(c.path, { method: c.method, headers: { cookie, 'content-type': type }, body: '{"url":"x"}' });
        expect(res.status, `${c.what} as ${type}`).toBe(403);
        expect(await errorOf(res)).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/X-Tabgrid-Request: 1/) });
      }
    }
    expect((await getJob(f.ctx.db, running))?.state).toBe('transcoding');
    expect((await getJob(f.ctx.db, done))?.state).toBe('done');
    // The cookie was not ended by the forged logout either.
    expect((await app.request('/api/jobs', { headers: { cookie } })).status).toBe(200);
  });

  it('refuses a foreign Origin even with the header, and lets the dashboard’s own request through', async () => {
    for (const origin of ['http://evil.example', 'http://localhost:3000', 'null']) {
      const res = await app.request(`/api/jobs/${running}/cancel`, {
        method: 'POST',
        headers: { cookie, origin, 'x-tabgrid-request': '1' },
      });
      expect(res.status, origin).toBe(403);
    }
    expect((await getJob(f.ctx.db, running))?.state).toBe('transcoding');
    const own = await app.request(`/api/jobs/${running}/cancel`, {
      method: 'POST',
      headers: { cookie, origin: 'http://127.0.0.1:8000', 'x-tabgrid-request': '1', 'sec-fetch-site': 'same-origin' },
    });
    expect(own.status).toBe(200);
    expect((await getJob(f.ctx.db, running))?.state).toBe('canceled');
  });

  it('checks CSRF before the credential: a forged request learns nothing about the token', async () => {
    const res = await app.request(`/api/jobs/${done}/retry`, { method: 'POST', headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(403);
  });
});

describe('DNS rebinding: the Host allow-list', () => {
  const paths = () => ['/api/jobs', '/api/session', '/healthz', '/', '/contribute/', '/storage/x', `/api/shared/${'A'.repeat(71)}`];

  it('answers nothing but 421 under a foreign Host, on every kind of path', async () => {
    for (const path of paths()) {
      for (const host of ['rebound.evil.example:8000', 'evil.example', '127.0.0.1:9999']) {
        const res = await app.request(path, { headers: { host, authorization: `Bearer ${TOKEN}` } }, viaSocket());
        expect(res.status, `${path} as ${host}`).toBe(421);
        expect((await errorOf(res)).code).toBe('misdirected_request');
      }
    }
  });

  it('answers under the loopback names at its port', async () => {
    for (const host of ['127.0.0.1:8000', 'localhost:8000', '[::1]:8000']) {
      const res = await app.request('/api/jobs', { headers: { host, authorization: `Bearer ${TOKEN}` } }, viaSocket());
      expect(res.status, host).toBe(200);
    }
  });

  it('with PUBLIC_URL, answers under its host', async () => {
    const behindProxy = f.app({}, { ADMIN_TOKEN: TOKEN, PUBLIC_URL: 'https://grid.example' });
    const as = (host: string) => behindProxy.request('/healthz', { headers: { host } }, viaSocket('127.0.0.1', 8000));
    expect((await as('grid.example')).status).toBe(200);
    expect((await as('127.0.0.1:8000')).status).toBe(200); // a local proxy's default
    expect((await as('grid.example.evil.example')).status).toBe(421);
  });
});

describe('security headers', () => {
  const common = (res: Response, what: string) => {
    expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
    expect(res.headers.get('referrer-policy'), what).toBe('no-referrer');
    expect(res.headers.get('x-frame-options'), what).toBe('DENY');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp, what).toMatch(/frame-ancestors 'none'/);
    expect(csp, what).toMatch(/base-uri 'none'/);
    expect(csp, what).toMatch(/object-src 'none'/);
    expect(res.headers.get('strict-transport-security'), what).toBeNull(); // not https
    return csp;
  };

  it('on the API: JSON, errors, refusals, playlists and the event stream load nothing and run nothing', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const answers: [string, Promise<Response> | Response][] = [
      ['a job list', app.request('/api/jobs', { headers: auth })],
      ['a 401', app.request('/api/jobs')],
      ['a 404', app.request('/api/jobs/00000000-0000-0000-0000-000000000000', { headers: auth })],
      ['a 403', app.request('/api/jobs', { method: 'POST', headers: { 'content-type': 'text/plain' } })],
      ['a 421', app.request('/api/jobs', { headers: { host: 'evil.example' } }, viaSocket())],
      ['a playlist', app.request(`/api/jobs/${done}/hls/360p.m3u8`, { headers: auth })],
      ['health', app.request('/healthz')],
      ['the session', app.request('/api/session')],
    ];
    for (const [what, pending] of answers) {
      const res = await pending;
      expect(common(res, what), what).toMatch(/^default-src 'none'/);
    }
    const abort = new AbortController();
    const stream = await app.request('/api/events?topics=status', { headers: auth, signal: abort.signal });
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    expect(common(stream, 'the event stream')).toMatch(/^default-src 'none'/);
    abort.abort();
    await stream.body?.cancel().catch(() => undefined);
  });

  it('on the dashboard’s pages: its own scripts only, media from storage, no framing', async () => {
    for (const path of ['/', '/jobs/x', `/share/${'A'.repeat(71)}`]) {
      const csp = common(await app.request(path), path);
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toMatch(/media-src 'self' blob:/);
    }
  });

  it('on the contributor page: wasm may compile, and COOP/COEP are kept', async () => {
    const res = await app.request('/contribute/');
    const csp = common(res, '/contribute/');
    expect(csp).toMatch(/script-src 'self' 'wasm-unsafe-eval'/);
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });

  it('on the storage gateway: its sandbox policy and its cross-origin resource policy are kept', async () => {
    const res = await app.request('/storage/videos/x/source/source.mp4?X-Amz-Signature=forged');
    expect(res.status).toBe(403);
    const csp = common(res, 'the storage gateway');
    expect(csp).toMatch(/^default-src 'none'; sandbox/);
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
  });

  it('with an external S3, lets pages reach its public origin, and nothing else', async () => {
    const external = f.app(
      {},
      {
        ADMIN_TOKEN: TOKEN,
        S3_ENDPOINT: 'http://minio:9000',
        S3_PUBLIC_ENDPOINT: 'https://media.example:9000',
        S3_ACCESS_KEY: 'a',
        S3_SECRET_KEY: 'b',
        S3_BUCKET: 'tabgrid',
      },
    );
    const dashboard = (await external.request('/')).headers.get('content-security-policy')!;
    expect(dashboard).toMatch(/connect-src 'self' https:\/\/media\.example:9000/);
    expect(dashboard).toMatch(/media-src 'self' blob: https:\/\/media\.example:9000/);
    expect(dashboard).toMatch(/img-src 'self' data: blob: https:\/\/media\.example:9000/);
    expect((await external.request('/contribute/')).headers.get('content-security-policy')).toMatch(
      /connect-src 'self' https:\/\/media\.example:9000/,
    );
  });
});
