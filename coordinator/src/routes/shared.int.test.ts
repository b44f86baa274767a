/**
 * Share links through the coordinator's own app on the real PostgreSQL: an
 * operator makes one; whoever has it sees that job and its playlists (the
 * media playlists rewritten to presigned segment URLs) with no login, and
 * nothing else; an altered, expired or deleted job's link is one uniform 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedJobSchema, shareLinkSchema } from '@tabgrid/shared';
import type { createApp } from '../app.js';
import { createOperatorAuth } from '../http/auth.js';
import { createLoginLimiter } from '../http/login-limiter.js';
import { createShareLinks } from '../http/share-links.js';
import { transitionJob } from '../jobs/job-table.js';
import { errorOf, type Fixture, openFixture, seedJob, TOKEN } from './testing/app-fixture.js';

const auth = { authorization: `Bearer ${TOKEN}` };
let f: Fixture;
let app: ReturnType<typeof createApp>;
/** The share links' clock: real time unless a test moves it (and back). */
let now = Date.now();
let done: string;
let other: string;

beforeAll(async () => {
  f = await openFixture('tabgrid_shared');
  app = f.app({ shareLinks: createShareLinks({ db: f.ctx.db, now: () => Math.max(now, Date.now()) }) });
  done = await seedJob(f, 'done', 'holiday.mp4');
  other = await seedJob(f, 'done', 'private.mp4');
});
afterAll(async () => {
  await f?.close();
});

async function share(id: string, body?: object): Promise<{ url: string; capability: string; expiresAt: string }> {
  const res = await app.request(`/api/jobs/${id}/share`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.status).toBe(201);
  return shareLinkSchema.parse(await res.json());
}

describe('POST /api/jobs/:id/share', () => {
  it('gives a capability URL on the dashboard, lasting 7 days unless asked otherwise', async () => {
    const link = await share(done);
    expect(link.url).toBe(`http://localhost/share/${link.capability}`);
    expect(link.capability).toMatch(/^[A-Za-z0-9_-]{71}$/);
    expect(Math.round((Date.parse(link.expiresAt) - Date.now()) / 86_400_000)).toBe(7);
    const month = await share(done, { expiresInDays: 30 });
    expect(Math.round((Date.parse(month.expiresAt) - Date.now()) / 86_400_000)).toBe(30);
    expect(month.capability).not.toBe(link.capability);
  });

  it('uses PUBLIC_URL for the link when set', async () => {
    const proxied = f.app({}, { ADMIN_TOKEN: TOKEN, PUBLIC_URL: 'https://grid.example' });
    const res = await proxied.request(`/api/jobs/${done}/share`, { method: 'POST', headers: auth });
    expect(((await res.json()) as { url: string }).url).toMatch(/^https:\/\/grid\.example\/share\/[A-Za-z0-9_-]{71}$/);
  });

  it('refuses an unknown job, a bad lifetime and a malformed body', async () => {
    const post = (id: string, body: string) =>
      app.request(`/api/jobs/${id}/share`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    expect((await post('00000000-0000-4000-8000-000000000000', '{}')).status).toBe(404);
    expect((await post('not-a-uuid', '{}')).status).toBe(404);
    for (const body of ['{"expiresInDays":0}', '{"expiresInDays":91}', '{"expiresInDays":1.5}', '{"forever":true}', 'nope', '[]']) {
      expect((await post(done, body)).status, body).toBe(400);
    }
    expect((await post(done, JSON.stringify({ expiresInDays: 1, pad: 'x'.repeat(10_000) }))).status).toBe(413);
  });
});

describe('GET /api/shared/:capability', () => {
  it('shows the job, with no login, its player pointing at the share’s own playlists', async () => {
    const { capability, expiresAt } = await share(done);
    const res = await app.request(`/api/shared/${capability}`);
    expect(res.status).toBe(200);
    const body = sharedJobSchema.parse(await res.json());
    expect(body.expiresAt).toBe(expiresAt);
    expect(body.job).toMatchObject({
      id: done,
      name: 'holiday.mp4',
      state: 'done',
      hls: { master: `/api/shared/${capability}/hls/master.m3u8` },
    });
    expect(body.job.outputs[0]!.url).toMatch(/^http:\/\/storage\.test\/encoded\//);
    expect(body.job.poster).toMatch(/poster\.jpg/);
  });

  it('serves its playlists: the master as stored, media playlists with presigned segment URLs', async () => {
    const { capability } = await share(done);
    const master = await app.request(`/api/shared/${capability}/hls/master.m3u8`);
    expect(master.status).toBe(200);
    expect(master.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    const text = await master.text();
    expect(text).toContain('\n360p.m3u8\n'); // relative: resolves to /api/shared/<capability>/hls/360p.m3u8
    const media = await (await app.request(`/api/shared/${capability}/hls/360p.m3u8`)).text();
    expect(media).toContain(`#EXT-X-MAP:URI="http://storage.test/encoded/${done}/hls/360p/init.mp4?X-Amz-Signature=fake"`);
    expect(media).toContain(`http://storage.test/encoded/${done}/hls/360p/seg_0000.m4s?X-Amz-Signature=fake`);
    expect(media).not.toMatch(/^seg_0000\.m4s$/m);
  });

  it('reaches nothing else: no other job, no grid, no workers, no action, no login', async () => {
    const { capability } = await share(done);
    // Another coordinator on the database, whose failed-login limit these many wrong tokens do not reach.
    const app = f.app({
      auth: createOperatorAuth({ config: f.ctx.config, db: f.ctx.db, limiter: createLoginLimiter({ maxFailures: 100 }) }),
    });
    const reads = [
      `/api/jobs/${done}`,
      `/api/jobs/${other}`,
      '/api/jobs',
      `/api/jobs/${done}/tasks`,
      `/api/jobs/${done}/hls/master.m3u8`,
      '/api/workers',
      `/api/events?job=${done}`,
    ];
    for (const path of reads) {
      for (const [how, headers] of [
        ['as a bearer token', { authorization: `Bearer ${capability}` }],
        ['as the session cookie', { cookie: `tabgrid_session=${capability}` }],
      ] as const) {
        expect((await app.request(path, { headers })).status, `${path} with the capability ${how}`).toBe(401);
      }
    }
    for (const path of [
      `/api/shared/${capability}/tasks`,
      `/api/shared/${capability}/workers`,
      `/api/shared/${capability}/hls/../../jobs`,
    ]) {
      expect((await app.request(path)).status, path).toBe(404);
    }
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const res = await app.request(`/api/shared/${capability}`, { method, headers: { 'x-tabgrid-request': '1' } });
      expect(res.status, method).toBe(404);
    }
    expect((await app.request(`/api/shared/${capability}/hls/nope.m3u8`)).status).toBe(404);
    expect((await app.request(`/api/shared/${capability}/hls/..%2F..%2Fjobs`)).status).toBe(404);
  });

  it('answers the same 404 to an altered link, an expired one and a deleted job’s', async () => {
    const { capability } = await share(done, { expiresInDays: 1 });
    const flipped = capability.slice(0, 30) + (capability[30] === 'A' ? 'B' : 'A') + capability.slice(31);
    const answers = [await app.request(`/api/shared/${flipped}`), await app.request(`/api/shared/${flipped}/hls/master.m3u8`)];

    now = Date.now() + 86_400_000 + 5000; // a day later
    answers.push(await app.request(`/api/shared/${capability}`), await app.request(`/api/shared/${capability}/hls/360p.m3u8`));
    now = 0;

    const doomed = await seedJob(f, 'done', 'doomed.mp4');
    const link = await share(doomed);
    expect((await app.request(`/api/shared/${link.capability}`)).status).toBe(200);
    expect((await app.request(`/api/jobs/${doomed}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    answers.push(await app.request(`/api/shared/${link.capability}`), await app.request(`/api/shared/${link.capability}/hls/master.m3u8`));

    const bodies = await Promise.all(answers.map(async (r) => ({ status: r.status, error: await errorOf(r) })));
    for (const b of bodies) expect(b).toEqual(bodies[0]);
    expect(bodies[0]).toEqual({
      status: 404,
      error: { code: 'not_found', message: expect.stringMatching(/^this share link does not work/) },
    });
  });

  it('hides why a shared job failed', async () => {
    const failed = await seedJob(f, 'transcoding', 'broken.mp4');
    // The reason an operator sees (chunks, workers, tools) is not for viewers.
    await transitionJob(f.ctx.db, failed, ['transcoding'], 'failed', {
      error: 'chunk 3 (720p) failed 5 times; worker tab_x: ffmpeg crashed',
    });
    const { capability } = await share(failed);
    const body = sharedJobSchema.parse(await (await app.request(`/api/shared/${capability}`)).json());
    expect(body.job.state).toBe('failed');
    expect(body.job.error).toBe('the transcode did not finish');
    const operatorView = (await (await app.request(`/api/jobs/${failed}`, { headers: auth })).json()) as { error: string };
    expect(operatorView.error).toMatch(/chunk 3/);
  });
});
