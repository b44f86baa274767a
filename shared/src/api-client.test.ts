import { describe, expect, it } from 'vitest';
import { ApiRequestError, createApiClient } from './api-client.js';
import type { JobView, TaskView } from './api.js';
import type { WorkersSnapshot } from './events.js';

const BASE = 'http://coordinator.test:8000';
const JOB_ID = '6f1c1b9e-2f5e-4a8e-9d59-0b8f4f7f6a11';

const job: JobView = {
  id: JOB_ID,
  name: 'clip.mp4',
  state: 'transcoding',
  error: null,
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:05.000Z',
  renditions: ['720p', '360p'],
  source: { duration: 10, width: 1280, height: 720, fps: 30, hasAudio: true },
  progress: { done: 1, total: 6 },
  outputs: [],
  hls: null,
};

const task: TaskView = {
  chunk: 0,
  rendition: '720p',
  state: 'leased',
  attempts: 1,
  worker: 'tab_abcdefgh',
  progress: 0.5,
  lastError: null,
  history: [{ attempt: 1, worker: 'tab_abcdefgh', outcome: null, reason: null, startedAt: '2025-01-01T00:00:01.000Z', endedAt: null }],
};

const workers: WorkersSnapshot = {
  workers: [],
  totals: { known: 0, connected: 0, busy: 0, quarantined: 0, tasksDone: 0, tasksFailed: 0 },
  throughput: { bucketSeconds: 60, perMinute: [0, 0], end: '2025-01-01T00:00:00.000Z' },
  serverTime: '2025-01-01T00:00:30.000Z',
};

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: RequestInit['body'];
  signal: AbortSignal | undefined;
  credentials: RequestInit['credentials'];
}

/** A fetch that records each call and answers with `reply` (or throws what it throws). */
function fakeFetch(reply: () => Response) {
  const calls: Call[] = [];
  const impl: typeof fetch = async (input, init = {}) => {
    calls.push({
      url: String(input),
      method: init.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: init.body,
      signal: init.signal ?? undefined,
      credentials: init.credentials,
    });
    init.signal?.throwIfAborted();
    return reply();
  };
  return { impl, calls };
}

const jsonResponse = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function clientAnswering(reply: () => Response, token?: string) {
  const fake = fakeFetch(reply);
  const client = createApiClient({ baseUrl: `${BASE}/`, fetch: fake.impl, ...(token === undefined ? {} : { token }) });
  return { client, calls: fake.calls };
}

/** The error a call rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.unreachable(`expected a rejection, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
}

describe('createApiClient: routes', () => {
  it('reads jobs, one job and its tasks with GETs on the right paths', async () => {
    const list = clientAnswering(() => jsonResponse([job]));
    expect(await list.client.listJobs()).toEqual([job]);
    expect(list.calls.map((c) => [c.method, c.url])).toEqual([['GET', `${BASE}/api/jobs`]]);

    const one = clientAnswering(() => jsonResponse(job));
    expect(await one.client.getJob(JOB_ID)).toEqual(job);
    expect(one.calls[0]!.url).toBe(`${BASE}/api/jobs/${JOB_ID}`);

    const tasks = clientAnswering(() => jsonResponse([task]));
    expect(await tasks.client.getTasks(JOB_ID)).toEqual([task]);
    expect(tasks.calls[0]).toMatchObject({ method: 'GET', url: `${BASE}/api/jobs/${JOB_ID}/tasks`, body: undefined });
  });

  it('escapes a job id into its path segment', async () => {
    const { client, calls } = clientAnswering(() => jsonResponse(job));
    await client.getJob('a/b?c');
    expect(calls[0]!.url).toBe(`${BASE}/api/jobs/a%2Fb%3Fc`);
  });

  it('cancels and retries with POSTs, deletes with DELETE', async () => {
    const canceled = clientAnswering(() => jsonResponse({ id: JOB_ID, state: 'canceled' }));
    expect(await canceled.client.cancelJob(JOB_ID)).toEqual({ id: JOB_ID, state: 'canceled' });
    expect(canceled.calls[0]).toMatchObject({ method: 'POST', url: `${BASE}/api/jobs/${JOB_ID}/cancel`, body: undefined });

    const retried = clientAnswering(() => jsonResponse({ id: JOB_ID, state: 'transcoding' }));
    expect(await retried.client.retryJob(JOB_ID)).toEqual({ id: JOB_ID, state: 'transcoding' });
    expect(retried.calls[0]).toMatchObject({ method: 'POST', url: `${BASE}/api/jobs/${JOB_ID}/retry` });

    const deleted = clientAnswering(() => new Response(null, { status: 204 }));
    expect(await deleted.client.deleteJob(JOB_ID)).toBeUndefined();
    expect(deleted.calls[0]).toMatchObject({ method: 'DELETE', url: `${BASE}/api/jobs/${JOB_ID}` });
  });

  it('submits by URL as JSON, renditions as the comma-separated list the API takes', async () => {
    const { client, calls } = clientAnswering(() => jsonResponse({ id: JOB_ID, state: 'queued' }, 201));
    expect(await client.submitUrl('https://example.test/v.webm', { renditions: ['720p', '480p'] })).toEqual({
      id: JOB_ID,
      state: 'queued',
    });
    await client.submitUrl('https://example.test/w.webm');
    expect(calls.map((c) => [c.method, c.url, c.headers['content-type']])).toEqual([
      ['POST', `${BASE}/api/jobs`, 'application/json'],
      ['POST', `${BASE}/api/jobs`, 'application/json'],
    ]);
    expect(JSON.parse(calls[0]!.body as string)).toEqual({ url: 'https://example.test/v.webm', renditions: '720p,480p' });
    expect(JSON.parse(calls[1]!.body as string)).toEqual({ url: 'https://example.test/w.webm' });
  });

  it('uploads a file as multipart field `file`, renditions first, leaving the content type to fetch', async () => {
    const { client, calls } = clientAnswering(() => jsonResponse({ id: JOB_ID, state: 'queued' }, 201));
    const blob = new Blob(['not really a video']);
    expect(await client.submitFile(blob, { filename: 'clip.mp4', renditions: ['360p'] })).toEqual({ id: JOB_ID, state: 'queued' });
    const call = calls[0]!;
    expect([call.method, call.url, call.headers['content-type']]).toEqual(['POST', `${BASE}/api/jobs`, undefined]);
    const form = call.body as FormData;
    expect([...form.keys()]).toEqual(['renditions', 'file']);
    expect(form.get('renditions')).toBe('360p');
    const file = form.get('file') as File;
    expect(file.name).toBe('clip.mp4');
    expect(await file.text()).toBe('not really a video');
  });

  it("names an upload after the File's own name, and sends no renditions field when none are asked for", async () => {
    const { client, calls } = clientAnswering(() => jsonResponse({ id: JOB_ID, state: 'queued' }, 201));
    await client.submitFile(new File(['x'], 'holiday.mov'));
    await client.submitFile(new Blob(['x']), { renditions: [] });
    const [named, unnamed] = calls.map((c) => c.body as FormData);
    expect([...named!.keys()]).toEqual(['file']);
    expect((named!.get('file') as File).name).toBe('holiday.mov');
    expect([...unnamed!.keys()]).toEqual(['file']);
    expect((unnamed!.get('file') as File).name).toBe('upload');
  });

  it('reads the workers snapshot and the health report, 503 included', async () => {
    const w = clientAnswering(() => jsonResponse(workers));
    expect(await w.client.workers()).toEqual(workers);
    expect(w.calls[0]!.url).toBe(`${BASE}/api/workers`);

    const down = { ok: false, database: { ok: true }, storage: { ok: false, error: 'connect ECONNREFUSED' } };
    const h = clientAnswering(() => jsonResponse(down, 503));
    expect(await h.client.health()).toEqual(down);
    expect(h.calls[0]!.url).toBe(`${BASE}/healthz`);
  });

  it('builds the HLS and events URLs', () => {
    const { client } = clientAnswering(() => jsonResponse({}));
    expect(client.hlsMasterUrl(JOB_ID)).toBe(`${BASE}/api/jobs/${JOB_ID}/hls/master.m3u8`);
    expect(client.hlsPlaylistUrl(JOB_ID, '720p')).toBe(`${BASE}/api/jobs/${JOB_ID}/hls/720p.m3u8`);
    expect(client.eventsUrl(['jobs', 'status'])).toBe(`${BASE}/api/events?topics=jobs%2Cstatus`);
    expect(client.eventsUrl(['workers'], JOB_ID)).toBe(`${BASE}/api/events?topics=workers&job=${JOB_ID}`);
  });

  it('with an empty base URL, addresses the page’s own origin', () => {
    const client = createApiClient({ baseUrl: '' });
    expect(client.hlsMasterUrl(JOB_ID)).toBe(`/api/jobs/${JOB_ID}/hls/master.m3u8`);
    expect(client.submitFileRequest(new Blob(['x'])).url).toBe('/api/jobs');
  });
});

describe('createApiClient: the token', () => {
  it('sends none by default, and Authorization: Bearer on every request once given', async () => {
    const { client, calls } = clientAnswering(() => jsonResponse([job]));
    await client.listJobs();
    client.setToken('s3cret');
    await client.listJobs();
    client.setToken(null);
    await client.listJobs();
    expect(calls.map((c) => c.headers.authorization)).toEqual([undefined, 'Bearer s3cret', undefined]);
    expect(calls.every((c) => c.headers.accept === 'application/json')).toBe(true);
  });

  it('is sent from the constructor option, on uploads and on the request built for XMLHttpRequest too', async () => {
    const { client, calls } = clientAnswering(() => jsonResponse({ id: JOB_ID, state: 'queued' }, 201), 'from-options');
    await client.submitFile(new Blob(['x']), { filename: 'a.mp4' });
    await client.submitUrl('https://example.test/v.mp4');
    await client.deleteJob(JOB_ID).catch(() => undefined);
    expect(calls.map((c) => c.headers.authorization)).toEqual(['Bearer from-options', 'Bearer from-options', 'Bearer from-options']);
    expect(client.submitFileRequest(new Blob(['x'])).headers).toEqual({
      accept: 'application/json',
      authorization: 'Bearer from-options',
      'x-tabgrid-request': '1',
    });
  });
});

describe('createApiClient: sessions, CSRF and share links', () => {
  const SESSION = { required: true, authenticated: true, expiresAt: '2025-01-08T00:00:00.000Z' };
  const CAPABILITY = `${'A'.repeat(70)}w`;

  it('marks every state change with X-Tabgrid-Request, never a read, and sends cookies to its own origin only', async () => {
    const { client, calls } = clientAnswering(() => new Response(null, { status: 204 }));
    await client.listJobs().catch(() => undefined);
    await client.cancelJob(JOB_ID).catch(() => undefined);
    await client.retryJob(JOB_ID).catch(() => undefined);
    await client.deleteJob(JOB_ID);
    await client.submitUrl('https://example.test/v.mp4').catch(() => undefined);
    await client.submitFile(new Blob(['x'])).catch(() => undefined);
    await client.logout();
    expect(calls.map((c) => [c.method, c.headers['x-tabgrid-request']])).toEqual([
      ['GET', undefined],
      ['POST', '1'],
      ['POST', '1'],
      ['DELETE', '1'],
      ['POST', '1'],
      ['POST', '1'],
      ['DELETE', '1'],
    ]);
    expect(calls.every((c) => c.credentials === 'same-origin')).toBe(true);
    expect(client.submitFileRequest(new Blob(['x'])).headers['x-tabgrid-request']).toBe('1');
  });

  it('asks for the session, logs in with the token as JSON and out with DELETE', async () => {
    const { client, calls } = clientAnswering(() => jsonResponse(SESSION));
    expect(await client.session()).toEqual(SESSION);
    expect(await client.login('the-operator-token-0123456789')).toEqual(SESSION);
    expect(calls.map((c) => [c.method, c.url, c.headers['content-type']])).toEqual([
      ['GET', `${BASE}/api/session`, undefined],
      ['POST', `${BASE}/api/session`, 'application/json'],
    ]);
    expect(JSON.parse(calls[1]!.body as string)).toEqual({ token: 'the-operator-token-0123456789' });

    const out = clientAnswering(() => new Response(null, { status: 204 }));
    expect(await out.client.logout()).toBeUndefined();
    expect(out.calls[0]).toMatchObject({ method: 'DELETE', url: `${BASE}/api/session` });
  });

  it('turns a wrong token into an ApiRequestError 401, and too many into 429', async () => {
    const wrong = clientAnswering(() => jsonResponse({ error: { code: 'unauthorized', message: 'wrong token' } }, 401));
    expect(await rejection(wrong.client.login('nope'))).toMatchObject({ status: 401, code: 'unauthorized' });
    const limited = clientAnswering(() => jsonResponse({ error: { code: 'too_many_requests', message: 'try again in 60 s' } }, 429));
    expect(await rejection(limited.client.login('nope'))).toMatchObject({ status: 429, code: 'too_many_requests' });
  });

  it('creates a share link (with or without a lifetime) and reads the shared job by its capability', async () => {
    const link = { url: `http://coordinator.test:8000/share/${CAPABILITY}`, capability: CAPABILITY, expiresAt: '2025-01-08T00:00:00.000Z' };
    const made = clientAnswering(() => jsonResponse(link, 201));
    expect(await made.client.shareJob(JOB_ID)).toEqual(link);
    await made.client.shareJob(JOB_ID, { expiresInDays: 30 });
    expect(made.calls.map((c) => [c.method, c.url, JSON.parse(c.body as string)])).toEqual([
      ['POST', `${BASE}/api/jobs/${JOB_ID}/share`, {}],
      ['POST', `${BASE}/api/jobs/${JOB_ID}/share`, { expiresInDays: 30 }],
    ]);

    const shared = { job: { ...job, hls: { master: `/api/shared/${CAPABILITY}/hls/master.m3u8` } }, expiresAt: link.expiresAt };
    const read = clientAnswering(() => jsonResponse(shared));
    expect(await read.client.sharedJob(CAPABILITY)).toEqual(shared);
    expect(read.calls[0]).toMatchObject({ method: 'GET', url: `${BASE}/api/shared/${CAPABILITY}` });
    // A share link is its own credential: no operator token goes with it… unless the client has one anyway.
    expect(read.calls[0]!.headers.authorization).toBeUndefined();
  });

  it('refuses a share answer that breaks the contract', async () => {
    const { client } = clientAnswering(() => jsonResponse({ url: 'x' }, 201));
    expect(await rejection(client.shareJob(JOB_ID))).toMatchObject({ code: 'bad_response' });
  });
});

describe('createApiClient: failures', () => {
  it("turns an API error into an ApiRequestError with the API's code and message", async () => {
    const { client } = clientAnswering(() => jsonResponse({ error: { code: 'conflict', message: 'job already ended' } }, 409));
    const e = await rejection(client.cancelJob(JOB_ID));
    expect(e).toBeInstanceOf(ApiRequestError);
    expect(e).toMatchObject({ status: 409, code: 'conflict', message: 'job already ended' });
  });

  it('falls back to the status line when the error body is not the API’s', async () => {
    const { client } = clientAnswering(() => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    expect(await rejection(client.getJob(JOB_ID))).toMatchObject({ status: 502, code: 'http_error', message: 'HTTP 502 Bad Gateway' });
    const proxy503 = clientAnswering(() => new Response('down for maintenance', { status: 503, statusText: 'Service Unavailable' }));
    expect(await rejection(proxy503.client.health())).toMatchObject({ status: 503, code: 'http_error' });
  });

  it('refuses a 2xx body that is not JSON, or not the promised shape, as bad_response', async () => {
    const notJson = clientAnswering(() => new Response('<!doctype html>', { status: 200 }));
    const e1 = await rejection(notJson.client.listJobs());
    expect(e1).toBeInstanceOf(ApiRequestError);
    expect(e1).toMatchObject({ status: 200, code: 'bad_response', message: 'GET /api/jobs: the response is not JSON' });

    const wrongShape = clientAnswering(() => jsonResponse({ ...job, state: 'exploded' }));
    expect(await rejection(wrongShape.client.getJob(JOB_ID))).toMatchObject({
      status: 200,
      code: 'bad_response',
      message: `GET /api/jobs/${JOB_ID}: unexpected response shape`,
    });

    const partialTasks = clientAnswering(() => jsonResponse([{ chunk: 0 }]));
    expect(await rejection(partialTasks.client.getTasks(JOB_ID))).toMatchObject({ code: 'bad_response' });
  });

  it('refuses a success status the route does not use as bad_response', async () => {
    const { client } = clientAnswering(() => jsonResponse({ id: JOB_ID, state: 'queued' }, 200));
    expect(await rejection(client.submitFile(new Blob(['x'])))).toMatchObject({
      status: 200,
      code: 'bad_response',
      message: 'POST /api/jobs: expected HTTP 201, got 200',
    });
  });

  it('reports a network failure as status 0, code network', async () => {
    const fake = fakeFetch(() => {
      throw new TypeError('fetch failed');
    });
    const client = createApiClient({ baseUrl: BASE, fetch: fake.impl });
    const e = await rejection(client.listJobs());
    expect(e).toBeInstanceOf(ApiRequestError);
    expect(e).toMatchObject({ status: 0, code: 'network', message: `cannot reach the coordinator at ${BASE}` });
    expect((e as Error).cause).toBeInstanceOf(TypeError);
  });

  it('lets an abort through as the AbortError it is, not as an ApiRequestError', async () => {
    const { client, calls } = clientAnswering(() => jsonResponse([job]));
    const controller = new AbortController();
    controller.abort();
    const e = await rejection(client.listJobs({ signal: controller.signal }));
    expect(e).not.toBeInstanceOf(ApiRequestError);
    expect((e as DOMException).name).toBe('AbortError');
    expect(calls[0]!.signal).toBe(controller.signal);
  });

  it('reads a response received elsewhere (XMLHttpRequest) exactly as submitFile would', () => {
    const { client } = clientAnswering(() => jsonResponse({}));
    expect(
      client.readSubmitResponse({ status: 201, statusText: 'Created', text: JSON.stringify({ id: JOB_ID, state: 'queued' }) }),
    ).toEqual({
      id: JOB_ID,
      state: 'queued',
    });
    const refusal = JSON.stringify({ error: { code: 'unprocessable', message: 'not a decodable video' } });
    expect(() => client.readSubmitResponse({ status: 422, statusText: '', text: refusal })).toThrow(
      expect.objectContaining({ status: 422, code: 'unprocessable', message: 'not a decodable video' }),
    );
    expect(() => client.readSubmitResponse({ status: 201, statusText: '', text: '{"id":1}' })).toThrow(
      expect.objectContaining({ code: 'bad_response' }),
    );
  });
});
