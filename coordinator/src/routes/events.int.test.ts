/**
 * GET /api/events and GET /api/workers on the real PostgreSQL, through the
 * coordinator's own app (createApp), with the lease functions making the
 * changes a tab would: a change is pushed without asking, a client that goes
 * away stops the queries, and a reconnect starts from the current state.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventSchemas, workersSnapshotSchema, type EncodeParams, type EventName } from '@tabgrid/shared';
import { createApp } from '../app.js';
import { loadConfig } from '../config.js';
import type { Database, Db } from '../db/client.js';
import { tasks } from '../db/schema.js';
import { openTestDatabase, type TestDatabase } from '../db/test-database.js';
import { insertJob, transitionJob } from '../jobs/job-table.js';
import { acceptSegment, beginVerification, claimTasks } from '../leases/index.js';
import { createLogger } from '../logger.js';
import { createLocalNotifier } from '../notify/index.js';
import type { Storage } from '../storage/storage.js';

const policy = { ttlSeconds: 30, maxAttempts: 3 };
const params: EncodeParams = {
  rendition: '360p',
  codec: 'h264',
  width: 640,
  height: 360,
  rotation: 0,
  crf: 23,
  maxrateKbps: 800,
  bufsizeKbps: 1600,
  preset: 'veryfast',
  frames: 48,
};
const storage = { presignGet: async (key: string) => `http://storage.test/${key}` } as unknown as Storage;

let database: Database;
let testDb: TestDatabase;
/** The database behind the app, counting raw statements (markers use only these). */
let statements = 0;
let app: ReturnType<typeof createApp>;

function counting(db: Db): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'execute' || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        statements++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

beforeAll(async () => {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_events'));
  const logger = createLogger('silent');
  const ctx = {
    db: counting(database.db),
    storage,
    tools: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
    config: loadConfig({}),
    logger,
    notifier: createLocalNotifier(),
  };
  app = createApp(ctx);
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

interface SseEvent {
  readonly event: string;
  readonly data: unknown;
}

/** An open event stream, read frame by frame. */
async function openStream(query: string) {
  const abort = new AbortController();
  const res = await app.request(`/api/events${query}`, { signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const next = async (timeoutMs = 5000): Promise<SseEvent> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (event === undefined) continue; // retry: and heartbeat comments
        const schema = eventSchemas[event as EventName];
        return { event, data: schema.parse(JSON.parse(data)) };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`);
      const chunk = await Promise.race([reader.read(), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), left))]);
      if (chunk === 'timeout') continue;
      if (chunk.done) throw new Error('the stream ended');
      buffer += chunk.value;
    }
  };
  /** The latest data of each event read so far, since `until` reads past other events. */
  const latest = new Map<string, unknown>();
  /** Resolves with the latest `name` event once it satisfies `pred`, reading on as needed. */
  const until = async <E extends EventName>(name: E, pred: (data: never) => boolean = () => true, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (latest.has(name) && pred(latest.get(name) as never)) {
        const data = latest.get(name);
        latest.delete(name); // consumed: the next `until` for it waits for a newer one
        return data;
      }
      const e = await next(Math.max(1, deadline - Date.now()));
      latest.set(e.event, e.data);
    }
  };
  const close = async () => {
    abort.abort();
    await reader.cancel().catch(() => undefined);
  };
  return { next, until, close };
}

async function seedJob(name: string): Promise<string> {
  const id = randomUUID();
  await insertJob(database.db, { id, name, renditions: ['360p'], sourceKey: `videos/${id}/source/source.mp4`, sourceSize: 1000 });
  await database.db.insert(tasks).values(
    [0, 1].map((chunk) => ({
      id: randomUUID(),
      jobId: id,
      chunkIndex: chunk,
      rendition: '360p' as const,
      params,
      chunkKey: `k${chunk}`,
      chunkSize: 100,
    })),
  );
  // Through the states the pipeline would take it, as the state machine requires.
  for (const [from, to] of [
    ['queued', 'probing'],
    ['probing', 'splitting'],
    ['splitting', 'transcoding'],
  ] as const) {
    await transitionJob(database.db, id, [from], to);
  }
  return id;
}

describe('GET /api/events', () => {
  let jobId: string;
  beforeAll(async () => {
    jobId = await seedJob('first.mp4');
  });

  it('sends the current snapshot of every topic first', async () => {
    const s = await openStream(`?topics=jobs,status,workers&job=${jobId}`);
    const first = [await s.next(), await s.next(), await s.next(), await s.next()];
    await s.close();
    expect(first.map((e) => e.event).sort()).toEqual(['job', 'jobs', 'status', 'workers']);
    const job = first.find((e) => e.event === 'job')!.data as {
      job: { name: string; progress: unknown };
      tasks: { state: string }[];
      chunkFrames: number[];
    };
    expect(job.job).toMatchObject({ name: 'first.mp4', progress: { done: 0, total: 2 } });
    expect(job.tasks.map((t) => t.state)).toEqual(['queued', 'queued']);
    expect(job.chunkFrames).toEqual([48, 48]);
    expect(first.find((e) => e.event === 'status')!.data).toEqual({ workersConnected: 0, workersBusy: 0, tasksQueued: 2 });
  });

  it('pushes a tab taking a task, its progress and the accepted segment, without being asked', async () => {
    const s = await openStream(`?topics=status,workers&job=${jobId}`);
    await s.until('job');
    await database.db.execute(
      sql`INSERT INTO workers (id, name, capabilities) VALUES ('tab-one-0001', 'tab one', ${JSON.stringify({ encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false })}::jsonb)`,
    );
    const [task] = await claimTasks(database.db, { workerId: 'tab-one-0001', limit: 1, policy });
    const leased = (await s.until(
      'job',
      (d: { tasks: { state: string; worker: string | null; history: unknown[] }[] }) => d.tasks[0]?.state === 'leased',
    )) as {
      tasks: { worker: string; history: { worker: string; outcome: string | null }[] }[];
    };
    expect(leased.tasks[0]).toMatchObject({ worker: 'tab-one-0001', history: [{ worker: 'tab-one-0001', outcome: null }] });
    await s.until('status', (d: { workersBusy: number }) => d.workersBusy === 1);
    const workers = (await s.until('workers', (d: { workers: { current: unknown[] }[] }) => d.workers[0]?.current.length === 1)) as {
      workers: { id: string; capabilities: unknown; current: unknown[] }[];
    };
    expect(workers.workers[0]).toMatchObject({
      id: 'tab-one-0001',
      capabilities: { encoders: ['wasm-x264'] },
      current: [{ chunk: 0, rendition: '360p', state: 'leased', attempt: 1 }],
    });

    // A heartbeat's progress is a change too.
    await database.db.execute(sql`UPDATE tasks SET progress = 0.5, updated_at = now() WHERE id = ${task!.id}`);
    await s.until('job', (d: { tasks: { progress: number }[] }) => d.tasks[0]?.progress === 0.5);

    await beginVerification(database.db, { taskId: task!.id, token: task!.lease_token!, policy });
    await acceptSegment(database.db, { taskId: task!.id, token: task!.lease_token!, segment: { key: 's0', size: 1, sha256: 'x' } });
    const done = (await s.until('job', (d: { tasks: { state: string }[] }) => d.tasks[0]?.state === 'done')) as {
      job: { progress: unknown };
    };
    expect(done.job.progress).toEqual({ done: 1, total: 2 });
    await s.close();
  });

  it('stops querying when the client goes away, and a reconnect gets the current state first', async () => {
    const s = await openStream(`?job=${jobId}`);
    await s.until('job');
    await s.close();
    await new Promise((r) => setTimeout(r, 700)); // let the loop notice
    const before = statements;
    await new Promise((r) => setTimeout(r, 1500)); // three rounds' worth
    expect(statements).toBe(before);

    // While nobody listens, the job is canceled; the next connection starts from that.
    await database.db.execute(sql`UPDATE tasks SET state = 'canceled', updated_at = now() WHERE job_id = ${jobId} AND state = 'queued'`);
    await transitionJob(database.db, jobId, ['transcoding'], 'canceled');
    const again = await openStream(`?job=${jobId}`);
    const snapshot = (await again.until('job')) as { job: { state: string }; tasks: { state: string }[] };
    expect(snapshot.job.state).toBe('canceled');
    expect(snapshot.tasks.map((t) => t.state)).toEqual(['done', 'canceled']);

    // Deleting the job is pushed as job: null.
    await database.db.execute(sql`DELETE FROM jobs WHERE id = ${jobId}`);
    expect(await again.until('job')).toMatchObject({ id: jobId, job: null, tasks: [] });
    await again.close();
  });

  it('refuses an unknown topic or a malformed job id with 400', async () => {
    for (const q of ['?topics=jobs,nope', '?job=../../etc']) {
      const res = await app.request(`/api/events${q}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    }
  });
});

describe('GET /api/workers', () => {
  it('lists workers with their current task, totals and accepted segments per minute', async () => {
    await seedJob('second.mp4');
    const [first] = await claimTasks(database.db, { workerId: 'tab-one-0001', limit: 1, policy });
    await beginVerification(database.db, { taskId: first!.id, token: first!.lease_token!, policy });
    await acceptSegment(database.db, { taskId: first!.id, token: first!.lease_token!, segment: { key: 's', size: 1, sha256: 'x' } });
    await claimTasks(database.db, { workerId: 'tab-one-0001', limit: 1, policy });
    const res = await app.request('/api/workers');
    expect(res.status).toBe(200);
    const body = workersSnapshotSchema.parse(await res.json());
    expect(body.workers).toHaveLength(1);
    expect(body.workers[0]).toMatchObject({
      id: 'tab-one-0001',
      name: 'tab one',
      connected: true,
      current: [{ jobName: 'second.mp4', chunk: 1, state: 'leased' }],
    });
    expect(body.totals).toMatchObject({ known: 1, connected: 1, busy: 1 });
    expect(body.throughput.perMinute).toHaveLength(60);
    expect(body.throughput.perMinute.reduce((a, b) => a + b, 0)).toBe(1);
  });
});
