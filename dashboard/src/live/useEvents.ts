/**
 * The dashboard's one source of live data: a single EventSource on
 * `/api/events` carrying the topics the current page shows. Each event is a
 * full snapshot, validated with the shared schemas; the coordinator sends all
 * of them again on every (re)connect, so whatever happened while the
 * connection was down, the page is right again as soon as it is back.
 *
 * EventSource reconnects by itself after a dropped stream, but gives up for
 * good on an HTTP error (a coordinator restarting behind a proxy answers
 * 502/503); then this hook opens a new one with backoff. A tab hidden for a
 * minute closes its stream, sparing the coordinator the queries, and opens it
 * again when shown. A refused stream may be a login that ended (401, which
 * EventSource does not expose): `onRefused` lets the caller ask (auth.ts).
 */
import {
  backoffDelay,
  eventSchemas,
  type BackoffPolicy,
  type EventName,
  type EventTopic,
  type JobSnapshot,
  type JobsSnapshot,
  type StatusSnapshot,
  type WorkersSnapshot,
} from '@tabgrid/shared';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api';

export type Connection = 'connecting' | 'open' | 'reconnecting' | 'paused';

export interface Live {
  readonly jobs: JobsSnapshot | null;
  /** Only ever the snapshot of the job asked for. */
  readonly job: JobSnapshot | null;
  readonly workers: WorkersSnapshot | null;
  readonly status: StatusSnapshot | null;
  readonly connection: Connection;
  /** Set while the data shown may be stale for a reason the user should know. */
  readonly problem: string | null;
  /** Server clock minus this browser's, from the latest snapshot with a server time (ms). */
  readonly clockOffsetMs: number;
}

interface Data {
  jobs: JobsSnapshot | null;
  job: JobSnapshot | null;
  workers: WorkersSnapshot | null;
  status: StatusSnapshot | null;
  problem: string | null;
  clockOffsetMs: number;
}

const HIDDEN_CLOSE_MS = 60_000;
/** Reopening a stream the browser gave up on: 1 s, 2 s, 4 s … up to 15 s. */
const REOPEN_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 15_000, jitter: 'none' };
const SNAPSHOT_EVENTS = ['jobs', 'job', 'workers', 'status'] as const satisfies readonly EventName[];

export interface EventsOptions {
  /** False while there is no point in asking (a login is needed): no stream is opened. */
  readonly enabled?: boolean;
  /** Called each time the browser gives up on the stream (an HTTP error, such as 401). */
  readonly onRefused?: () => void;
}

export function useEvents(topics: readonly EventTopic[], jobId: string | null, options: EventsOptions = {}): Live {
  const url = api.eventsUrl(topics, jobId);
  const enabled = options.enabled ?? true;
  const onRefused = useRef(options.onRefused);
  onRefused.current = options.onRefused;
  const [data, setData] = useState<Data>({ jobs: null, job: null, workers: null, status: null, problem: null, clockOffsetMs: 0 });
  const [connection, setConnection] = useState<Connection>('connecting');

  useEffect(() => {
    if (!enabled) return;
    let source: EventSource | null = null;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let hiddenTimer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;

    const onSnapshot = (name: (typeof SNAPSHOT_EVENTS)[number]) => (e: MessageEvent<string>) => {
      let parsed: ReturnType<(typeof eventSchemas)[typeof name]['safeParse']>;
      try {
        parsed = eventSchemas[name].safeParse(JSON.parse(e.data));
      } catch {
        parsed = { success: false } as typeof parsed;
      }
      if (!parsed.success) {
        setData((d) => ({ ...d, problem: `the coordinator sent a “${name}” update this dashboard does not understand; reload the page` }));
        return;
      }
      failures = 0;
      const value = parsed.data;
      setData((d) => {
        const next: Data = { ...d, [name]: value, problem: null };
        if ('serverTime' in value) next.clockOffsetMs = Date.parse(value.serverTime) - Date.now();
        return next;
      });
    };
    const onUnavailable = (e: MessageEvent<string>) => {
      const parsed = eventSchemas.unavailable.safeParse(JSON.parse(e.data));
      setData((d) => ({ ...d, problem: parsed.success ? parsed.data.message : 'the coordinator cannot read its database now' }));
    };

    const open = (): void => {
      clearTimeout(retryTimer);
      source?.close();
      const es = new EventSource(url);
      source = es;
      for (const name of SNAPSHOT_EVENTS) es.addEventListener(name, onSnapshot(name));
      es.addEventListener('unavailable', onUnavailable);
      es.onopen = () => setConnection('open');
      es.onerror = () => {
        setConnection('reconnecting');
        if (es.readyState !== EventSource.CLOSED) return; // the browser retries by itself
        onRefused.current?.();
        failures += 1;
        retryTimer = setTimeout(open, backoffDelay(failures - 1, REOPEN_BACKOFF));
      };
    };
    const close = (): void => {
      clearTimeout(retryTimer);
      source?.close();
      source = null;
    };
    const onVisibility = (): void => {
      clearTimeout(hiddenTimer);
      if (document.hidden) {
        hiddenTimer = setTimeout(() => {
          close();
          setConnection('paused');
        }, HIDDEN_CLOSE_MS);
      } else if (source === null) {
        setConnection('connecting');
        open();
      }
    };

    setConnection('connecting');
    open();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      close();
      clearTimeout(hiddenTimer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [url, enabled]);

  return {
    jobs: data.jobs,
    job: data.job !== null && data.job.id === jobId ? data.job : null,
    workers: data.workers,
    status: data.status,
    connection,
    problem: data.problem,
    clockOffsetMs: data.clockOffsetMs,
  };
}
