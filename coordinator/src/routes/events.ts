/**
 * GET /api/events: Server-Sent Events carrying full snapshots of the topics
 * a page shows, pushed when they change (see events/watch.ts for how changes
 * are found without any in-process state, so it works with several
 * coordinators on one database).
 *
 *   ?topics=jobs,workers,status   which topics (default: jobs,status)
 *   ?job=<id>                     adds `job`: that job and its chunk grid
 *
 * One stream per page, carrying every topic it needs: browsers allow only six
 * HTTP/1.1 connections per origin, and each open EventSource holds one.
 */
import { Hono } from 'hono';
import { InvalidRequestError } from '../errors.js';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { DEFAULT_EVENT_TOPICS, eventTopicSchema } from '@tabgrid/shared';
import type { Db } from '../db/client.js';
import type { OperatorCredential } from '../http/auth.js';
import { createTopicFactory } from '../events/topics.js';
import { watchTopics } from '../events/watch.js';
import type { Logger } from '../logger.js';
import { type Notifier, Waker } from '../notify/index.js';
import type { Storage } from '../storage/storage.js';

/** How long EventSource waits before reconnecting after the stream drops (its default is about 3 s). */
const RECONNECT_MS = 2000;
/** How often a stream opened with a session cookie checks that the session was not ended (logout) meanwhile. */
const SESSION_RECHECK_MS = 30_000;

const querySchema = z.object({
  topics: z
    .string()
    .optional()
    .transform((s) => (s === undefined || s === '' ? [...DEFAULT_EVENT_TOPICS] : s.split(',').map((t) => t.trim())))
    .pipe(z.array(eventTopicSchema)),
  job: z.string().uuid().optional(),
});

export interface EventRouteDeps {
  readonly db: Db;
  readonly storage: Storage;
  readonly logger: Logger;
  /** Wakes a stream when a job, its tasks or the workers change, on any coordinator. */
  readonly notifier: Notifier;
  /** Test hooks: other safety-poll and heartbeat periods. */
  readonly intervalMs?: number;
  readonly heartbeatMs?: number;
  readonly sessionRecheckMs?: number;
}

export function eventRoutes(deps: EventRouteDeps) {
  const app = new Hono();
  const topicsFor = createTopicFactory(deps);
  const log = deps.logger.child({ component: 'events' });

  app.get('/', (c) => {
    const parsed = querySchema.safeParse({ topics: c.req.query('topics'), job: c.req.query('job') });
    if (!parsed.success) {
      throw new InvalidRequestError(`topics must be a comma-separated list of ${eventTopicSchema.options.join(', ')}; job a job id`);
    }
    const topics = topicsFor({ topics: parsed.data.topics, jobId: parsed.data.job });
    // Proxies such as nginx buffer responses unless told not to, which would hold every event back.
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const done = new AbortController();
      stream.onAbort(() => done.abort());
      c.req.raw.signal.addEventListener('abort', () => done.abort(), { once: true });
      // Any change wakes every stream (the job list, status and workers topics move with any job);
      // the markers then tell which topics changed, and a burst costs one round of shared reads.
      const waker = new Waker(deps.notifier, ['job', 'progress', 'workers', 'work']);
      done.signal.addEventListener('abort', () => waker.close(), { once: true });
      endWithSession(c.get('operator'), done, deps.sessionRecheckMs ?? SESSION_RECHECK_MS);
      await stream.write(`retry: ${RECONNECT_MS}\n\n`);
      await watchTopics(
        topics,
        {
          event: (name, data) => stream.writeSSE({ event: name, data: JSON.stringify(data) }),
          comment: async (text) => void (await stream.write(`: ${text}\n\n`)),
        },
        {
          signal: done.signal,
          waker,
          ...(deps.intervalMs !== undefined ? { intervalMs: deps.intervalMs } : {}),
          ...(deps.heartbeatMs !== undefined ? { heartbeatMs: deps.heartbeatMs } : {}),
          onError: (err, topic) => log.warn({ err: (err as Error).message, topic }, 'event stream cannot read its topic; retrying'),
        },
      );
    });
  });

  return app;
}

/**
 * A stream lives no longer than the session that opened it: it ends when the
 * session expires or is ended (logout, on any coordinator). EventSource then
 * reconnects and gets 401, which sends the dashboard to its login.
 */
function endWithSession(operator: OperatorCredential | undefined, done: AbortController, recheckMs: number): void {
  if (operator?.via !== 'session') return;
  const expiry = setTimeout(() => done.abort(), Math.min(2 ** 31 - 1, Math.max(0, operator.session.expiresAt.getTime() - Date.now())));
  const recheck = setInterval(() => {
    operator.stillLive().then(
      (live) => {
        if (!live) done.abort();
      },
      () => undefined, // the database is away: the watch loop reports that; keep the stream
    );
  }, recheckMs);
  done.signal.addEventListener(
    'abort',
    () => {
      clearTimeout(expiry);
      clearInterval(recheck);
    },
    { once: true },
  );
}
