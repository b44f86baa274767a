/**
 * watchTopics(topics, sink, opts) → resolves when opts.signal aborts
 *
 * The push loop behind `GET /api/events`. All state lives in the database,
 * which several coordinators may share; each topic has a cheap *change
 * marker* (one small query) and a *snapshot* (the full view). A round reads
 * each marker and, only when it differs from the one last sent, loads and
 * sends a fresh snapshot. Rounds run when the `waker` says something may
 * have changed (notify/: a job, its tasks or the workers, announced by any
 * coordinator), at most every `minRoundGapMs` so a burst costs one round,
 * and every `intervalMs` regardless, in case a notification was lost. The first round always sends, so a client that
 * (re)connects gets the current state first and can never be left with a
 * stale one. The marker is read *before* the snapshot: a change that lands
 * while the snapshot is being built changes the marker again and is sent on
 * the next round (at least once, never lost).
 *
 * While nothing is written for `heartbeatMs`, a comment line keeps proxies
 * and the browser from timing the connection out. When the database cannot
 * be read, one `unavailable` event says so; once it answers again every
 * topic is sent afresh, which also tells the client it is over.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface Topic {
  /** The SSE event name its snapshots are sent under. */
  readonly event: string;
  /** A short string that changes whenever the snapshot would; read at or after `freshAfter` (ms since epoch) when given. */
  marker(freshAfter?: number): Promise<string>;
  snapshot(): Promise<unknown>;
}

export interface EventSink {
  event(name: string, data: unknown): Promise<void>;
  comment(text: string): Promise<void>;
}

export interface WatchOptions {
  readonly signal: AbortSignal;
  /** The safety poll: a round at least this often, woken or not. */
  readonly intervalMs?: number;
  readonly heartbeatMs?: number;
  /** Wakes the loop early when something may have changed. */
  readonly waker?: { wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean> };
  /** After a wake, rounds are at least this far apart. */
  readonly minRoundGapMs?: number;
  /** Called once per outage with the first failure (for logging, without a line every round). */
  readonly onError?: (err: unknown, topic: string) => void;
}

/** With notifications, polling is only the safety net. */
export const WATCH_INTERVAL_MS = 2000;
export const MIN_ROUND_GAP_MS = 100;
export const HEARTBEAT_MS = 15_000;

export async function watchTopics(topics: readonly Topic[], sink: EventSink, opts: WatchOptions): Promise<void> {
  const { signal, intervalMs = WATCH_INTERVAL_MS, heartbeatMs = HEARTBEAT_MS } = opts;
  const sent = new Map<string, string>();
  let lastWrite = Date.now();
  let unavailable = false;
  /** Set when a notification woke this round: markers must be read after it, not shared from before. */
  let freshAfter: number | undefined;

  while (!signal.aborted) {
    let failure: { err: unknown; topic: string } | undefined;
    for (const topic of topics) {
      if (signal.aborted) return;
      try {
        const marker = await topic.marker(freshAfter);
        if (sent.get(topic.event) === marker) continue;
        const data = await topic.snapshot();
        if (signal.aborted) return;
        await sink.event(topic.event, data);
        sent.set(topic.event, marker);
        lastWrite = Date.now();
      } catch (err) {
        failure ??= { err, topic: topic.event };
      }
    }
    if (failure !== undefined && !unavailable) {
      unavailable = true;
      opts.onError?.(failure.err, failure.topic);
      // Forget what was sent, so recovery resends every topic and the client knows it is over.
      sent.clear();
      await sink.event('unavailable', {
        message: `the coordinator cannot read its database now (${failure.err instanceof Error ? failure.err.message : String(failure.err)}); retrying`,
      });
      lastWrite = Date.now();
    } else if (failure === undefined) {
      unavailable = false;
    }
    if (Date.now() - lastWrite >= heartbeatMs) {
      await sink.comment('heartbeat');
      lastWrite = Date.now();
    }
    try {
      if (opts.waker) {
        const woken = await opts.waker.wait(intervalMs, signal);
        freshAfter = woken ? Date.now() : undefined;
        if (woken) await sleep(opts.minRoundGapMs ?? MIN_ROUND_GAP_MS, undefined, { signal });
      } else {
        await sleep(intervalMs, undefined, { signal });
      }
    } catch {
      return; // aborted: the client went away
    }
  }
}
