/**
 * A bounded fuzz of every HTTP route through the coordinator's own app on
 * the real PostgreSQL: random methods, paths built from the route list with
 * hostile parameters, random headers (credentials right and wrong, Origins,
 * content types, cookies, Hosts) and bodies. Whatever arrives, the answer is
 * never a 5xx, every /api answer is the API's `{ error: { code, message } }`
 * or a success, and the jobs nobody touched are unchanged afterwards.
 *
 * Not here: the upload body itself (multipart needs the Node request, which
 * app.request() has not; the inputs part fuzzes it) and a submitted URL
 * (it would be fetched: tests talk only to 127.0.0.1).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { createApp } from '../app.js';
import { createOperatorAuth } from '../http/auth.js';
import { createLoginLimiter } from '../http/login-limiter.js';
import { getJob } from '../jobs/job-table.js';
import { type Fixture, login, openFixture, seedJob, TOKEN, viaSocket } from './testing/app-fixture.js';

let f: Fixture;
let app: ReturnType<typeof createApp>;
let cookie: string;
let targets: string[];
let untouched: { done: string; running: string };

beforeAll(async () => {
  f = await openFixture('tabgrid_fuzz');
  // The limit would turn most answers into 429 after five wrong tokens; it has its own tests.
  app = f.app({ auth: createOperatorAuth({ config: f.ctx.config, db: f.ctx.db, limiter: createLoginLimiter({ maxFailures: 1e9 }) }) });
  cookie = await login(app);
  targets = [await seedJob(f, 'done'), await seedJob(f, 'transcoding')];
  untouched = { done: await seedJob(f, 'done', 'keep.mp4'), running: await seedJob(f, 'transcoding', 'keep-running.mp4') };
});
afterAll(async () => {
  await f?.close();
});

const hostile = fc.oneof(
  fc.constantFrom('..', '%2e%2e', '..%2f..%2fetc%2fpasswd', '%00', '%', '%zz', ' ', 'null', '-1', '0'.repeat(300), '😀', '<script>'),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.uuid(),
);

function pathArb() {
  return fc.oneof(
    fc
      .constantFrom(...templates())
      .chain((template) =>
        fc
          .tuple(
            fc.oneof(fc.constantFrom(...targets), hostile),
            fc.oneof(fc.constantFrom('master.m3u8', '360p.m3u8', 'audio.m3u8', 'x.m3u8'), hostile),
            fc.oneof(fc.constant('A'.repeat(71)), hostile),
            fc.oneof(fc.constant(''), fc.constantFrom('?topics=jobs', '?job=x', '?topics=', '?topics=jobs,nope', `?job=${targets[0]}`)),
          )
          .map(
            ([id, file, capability, query]) =>
              template.replace(':id', id).replace(':file', file).replace(':capability', capability).replace(/\/$/, '') + query,
          ),
      ),
    hostile.map((s) => `/api/${s}`),
    fc.constantFrom('/api', '/api/', '//api/jobs', '/api//jobs', '/API/jobs', '/api/jobs/', '/healthz/', '/storage/x'),
  );
}

/** The route list as registered, but never the submit (see above). */
function templates(): string[] {
  return [...new Set(app.routes.filter((r) => r.path.startsWith('/api/') && r.method !== 'ALL').map((r) => r.path))];
}

/** Mostly what passes (so the fuzz reaches the routes), sometimes each kind of wrong. */
const mostly = <T>(good: T, ...bad: T[]) =>
  fc.oneof({ arbitrary: fc.constant(good), weight: 2 * bad.length }, ...bad.map((b) => fc.constant(b)));

const headersArb = () =>
  fc.record(
    {
      authorization: mostly(`Bearer ${TOKEN}`, 'Bearer wrong-but-long-enough-token', 'Bearer', 'Basic x', `bearer  ${TOKEN}`, ''),
      cookie: fc.constantFrom(cookie, 'tabgrid_session=forged.1.x', 'tabgrid_session=', 'a=b; tabgrid_session=%zz', ''),
      'content-type': fc.constantFrom(
        'application/json',
        'text/plain',
        'multipart/form-data; boundary=x',
        'application/json; charset=x',
        '',
      ),
      'x-tabgrid-request': mostly('1', '0', ''),
      origin: mostly('', 'http://127.0.0.1:8000', 'http://evil.example', 'null', 'http://[::1'),
      host: mostly('127.0.0.1:8000', 'evil.example', 'localhost:8000', '[::1]:8000', 'a b', ''),
    },
    { requiredKeys: [] },
  );

const bodyArb = fc.oneof(
  fc.constant(undefined),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('{"token":', '{"expiresInDays":1e309}', '{"expiresInDays":-0}', `{"token":"${TOKEN}"}`, '[[[[[[[[[[]]]]]]]]]]'),
);

it('answers every random request without a 5xx, in the API’s own shape, and leaves other jobs alone', async () => {
  const seen = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
      pathArb(),
      headersArb(),
      bodyArb,
      fc.nat(3).map((n) => n === 0),
      async (method, path, rawHeaders, body, overSocket) => {
        // The submit is not fuzzed here (see the header).
        if (method === 'POST' && /^\/api\/jobs\/?(\?|$)/.test(path)) return;
        const headers = Object.fromEntries(Object.entries(rawHeaders).filter(([, v]) => v !== ''));
        const abort = new AbortController();
        const res = await app.request(
          path,
          { method, headers, signal: abort.signal, ...(body === undefined || method === 'GET' || method === 'HEAD' ? {} : { body }) },
          overSocket ? viaSocket() : undefined,
        );
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        const type = res.headers.get('content-type') ?? '';
        // As the router sees it: `/api/..` is `/`.
        const api = new URL(path, 'http://localhost').pathname.startsWith('/api');
        if (type.includes('text/event-stream')) {
          abort.abort();
          await res.body?.cancel().catch(() => undefined);
        } else if (api && res.status >= 400 && method !== 'HEAD') {
          const parsed = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
          expect(typeof parsed.error?.code, `${method} ${path}`).toBe('string');
          expect(typeof parsed.error?.message, `${method} ${path}`).toBe('string');
        } else if (res.status === 503 && !api) {
          // The web apps' page when their build is missing (a fresh checkout): the one 5xx outside the API, by design.
          if (method !== 'HEAD') expect(await res.text()).toMatch(/is not built yet/);
          return;
        } else {
          await res.body?.cancel().catch(() => undefined);
        }
        expect(res.status, `${method} ${path} ${JSON.stringify(headers)} → ${res.status}`).toBeLessThan(500);
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      },
    ),
    { numRuns: Number(process.env.FUZZ_RUNS ?? 400), seed: Number(process.env.FUZZ_SEED ?? 1010) },
  );
  if (process.env.FUZZ_RUNS) console.log(Object.fromEntries(seen));
  // The fuzz reached past the perimeter too, not only its refusals.
  for (const status of [200, 401, 403, 404, 421]) expect(seen.get(status) ?? 0, `answers with ${status}`).toBeGreaterThan(0);
  expect((await getJob(f.ctx.db, untouched.done))?.state).toBe('done');
  expect((await getJob(f.ctx.db, untouched.running))?.state).toBe('transcoding');
}, 120_000);
