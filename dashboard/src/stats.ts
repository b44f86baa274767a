/**
 * Throughput and ETA of one job, from its pushed snapshot alone: every
 * accepted attempt carries its end time, and chunkFrames says how many
 * frames it encoded. All times are on the server's clock (`now` is the
 * browser's time plus the offset from the snapshot's serverTime).
 */
import { TERMINAL_JOB_STATES, type JobSnapshot } from '@tabgrid/shared';

/**
 * While running, rates are over the last two minutes (or since the first
 * task started, if sooner): recent enough to follow tabs joining and leaving,
 * long enough not to jump with every segment.
 */
export const RATE_WINDOW_MS = 120_000;

export interface JobStats {
  readonly done: number;
  readonly total: number;
  /** Tasks leased or being verified now. */
  readonly running: number;
  /** Distinct tabs holding this job's tasks now. */
  readonly tabs: number;
  /** Tasks that needed more than one attempt. */
  readonly retried: number;
  /** null until the first segment is accepted. */
  readonly tasksPerMinute: number | null;
  readonly framesPerSecond: number | null;
  /** Seconds until every task is done at the current rate; null when unknown or over. */
  readonly etaSeconds: number | null;
  /** From the first lease to the last accepted segment (ended jobs) or to now. */
  readonly elapsedSeconds: number | null;
  readonly ended: boolean;
}

export function jobStats(snapshot: JobSnapshot, now: number): JobStats {
  const { tasks, chunkFrames } = snapshot;
  const ended = snapshot.job !== null && TERMINAL_JOB_STATES.includes(snapshot.job.state);
  let firstStart = Infinity;
  let lastEnd = -Infinity;
  const accepted: { end: number; frames: number }[] = [];
  const tabs = new Set<string>();
  let running = 0;
  let retried = 0;
  for (const t of tasks) {
    if (t.attempts > 1) retried += 1;
    if (t.state === 'leased' || t.state === 'verifying') {
      running += 1;
      if (t.worker !== null) tabs.add(t.worker);
    }
    for (const h of t.history) {
      firstStart = Math.min(firstStart, Date.parse(h.startedAt));
      if (h.outcome === 'done' && h.endedAt !== null) {
        const end = Date.parse(h.endedAt);
        lastEnd = Math.max(lastEnd, end);
        accepted.push({ end, frames: chunkFrames[t.chunk] ?? 0 });
      }
    }
  }
  const done = tasks.filter((t) => t.state === 'done').length;
  const total = tasks.length;
  const base = { done, total, running, tabs: tabs.size, retried, ended };
  if (!Number.isFinite(firstStart)) return { ...base, tasksPerMinute: null, framesPerSecond: null, etaSeconds: null, elapsedSeconds: null };

  // An ended job is measured over its whole run; a running one over the recent window.
  // `now` ticks once a second, so a segment may be newer than it; never measure to before the latest one.
  const until = ended && Number.isFinite(lastEnd) ? lastEnd : Math.max(now, lastEnd);
  const from = ended ? firstStart : Math.max(firstStart, until - RATE_WINDOW_MS);
  const seconds = Math.max(1, (until - from) / 1000);
  const inWindow = accepted.filter((a) => a.end >= from);
  const elapsedSeconds = Math.max(0, (until - firstStart) / 1000);
  if (inWindow.length === 0) return { ...base, tasksPerMinute: null, framesPerSecond: null, etaSeconds: null, elapsedSeconds };
  const perSecond = inWindow.length / seconds;
  const frames = inWindow.reduce((sum, a) => sum + a.frames, 0);
  return {
    ...base,
    tasksPerMinute: perSecond * 60,
    framesPerSecond: frames / seconds,
    etaSeconds: ended || done === total ? null : (total - done) / perSecond,
    elapsedSeconds,
  };
}
