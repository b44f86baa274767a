/**
 * One assignment as the task runner holds it: the rungs of one chunk,
 * encoded together from one download and one decode, each rung still its
 * own lease (its own upload, `complete` or `fail`, and verdict). Pure data
 * and the helpers that read it: batchOf(assign) → Batch, liveLeases(batch)
 * → what a heartbeat names, summarize(batch) → what the page shows, and the
 * prefetch pacing: endsWithin() (when to ask for the next chunk) and
 * leadAfter() (how early, learned from the last prefetch).
 */
import type { AssignMessage, CompleteMessage, EncodeParams, LeaseRef } from '@tabgrid/shared';
import type { CurrentTask, Stage, TaskStage } from './task-model.js';

export type Completion = Omit<CompleteMessage, 'type' | 'id'> & {
  tries: number;
  inFlight: string | null;
  timer?: ReturnType<typeof setTimeout>;
};

export interface Rung {
  readonly leaseId: string;
  readonly token: string;
  readonly attempt: number;
  readonly outputUrl: string;
  readonly params: EncodeParams;
  stage: TaskStage;
  /** Ids of the `complete` and `fail` messages sent for this lease, so replies can be matched to it. */
  readonly sentIds: Set<string>;
  /** Uploaded and reported: waiting for the coordinator's verdict. */
  completion?: Completion;
  retryAt?: number;
  /** Stops this rung's upload (revoked). */
  readonly controller: AbortController;
  /** The lease is over for this tab: verdict received, failed, or taken back. */
  ended: boolean;
}

export interface Batch {
  readonly jobId: string;
  readonly chunk: number;
  readonly input: AssignMessage['input'];
  readonly rungs: readonly Rung[];
  /** Stops the download and the transcode (every rung was taken back). */
  readonly controller: AbortController;
  /** Assigned while another batch encoded (its chunk downloads meanwhile): when that batch asked for it. */
  readonly requestedAt: number | undefined;
  /** Why the batch was stopped without a `fail` (the coordinator took every rung back). */
  stopReason: string | null;
  stage: Stage;
  progress: number;
  frames?: number;
  readonly startedAt: number;
  /** Ids of this batch's heartbeats. */
  readonly heartbeatIds: Set<string>;
  beat?: ReturnType<typeof setTimeout>;
  /** While encoding: when the tab asked for the next chunk (heartbeat `ready`), so that it arrives before the encoder is free. */
  askedAt?: number;
  /** A prefetched batch waiting for the encoder: called when it gets it. */
  turn?: { resolve: () => void; reject: (e: Error) => void };
}

export function batchOf(msg: AssignMessage, now: number, requestedAt?: number): Batch {
  return {
    requestedAt,
    jobId: msg.jobId,
    chunk: msg.chunk,
    input: msg.input,
    rungs: msg.rungs.map((r) => ({
      leaseId: r.leaseId,
      token: r.token,
      attempt: r.attempt,
      outputUrl: r.output.url,
      params: r.params,
      stage: 'downloading',
      sentIds: new Set(),
      controller: new AbortController(),
      ended: false,
    })),
    controller: new AbortController(),
    stopReason: null,
    stage: 'downloading',
    progress: 0,
    startedAt: now,
    heartbeatIds: new Set(),
  };
}

/** The leases a heartbeat renews: held, and not yet reported complete (the coordinator holds those while it checks them). */
export const liveLeases = (b: Batch): LeaseRef[] =>
  b.rungs.filter((r) => !r.ended && !r.completion).map((r) => ({ leaseId: r.leaseId, token: r.token }));

/** Every lease the tab still holds in this batch (for `resume` after a reconnect). */
export const heldLeases = (b: Batch): LeaseRef[] => b.rungs.filter((r) => !r.ended).map((r) => ({ leaseId: r.leaseId, token: r.token }));

const STAGE_ORDER: readonly TaskStage[] = ['downloading', 'transcoding', 'uploading', 'checking'];

export function summarize(b: Batch): CurrentTask {
  const held = b.rungs.filter((r) => !r.ended);
  const shown = held.length > 0 ? held : b.rungs;
  const stage = STAGE_ORDER[Math.min(...shown.map((r) => STAGE_ORDER.indexOf(r.stage)))] ?? b.stage;
  const retries = shown.flatMap((r) => (r.retryAt === undefined ? [] : [r.retryAt]));
  const first = b.rungs[0]!;
  return {
    leaseId: first.leaseId,
    jobId: b.jobId,
    chunk: b.chunk,
    rendition: b.rungs.map((r) => r.params.rendition).join('+'),
    attempt: Math.max(...b.rungs.map((r) => r.attempt)),
    stage,
    progress: b.progress,
    ...(b.frames === undefined ? {} : { frames: b.frames }),
    totalFrames: first.params.frames,
    startedAt: b.startedAt,
    ...(retries.length > 0 ? { retryAt: Math.min(...retries) } : {}),
    rungs: b.rungs.map((r) => ({
      leaseId: r.leaseId,
      rendition: r.params.rendition,
      attempt: r.attempt,
      stage: r.stage,
      ...(r.retryAt === undefined ? {} : { retryAt: r.retryAt }),
    })),
  };
}

/** How long before its encode ends a batch asks for the next chunk: twice the last prefetch's latency, within these bounds. */
export const LEAD_MIN_MS = 500;
export const LEAD_MAX_MS = 10_000;
/** No estimate of the time left before this much of the encode is done (its first frames say little about its pace). */
const ESTIMATE_FROM_RATIO = 0.2;

/** Whether an encode that started at `startedAt` and is `ratio` done now will, at its pace so far, end within `leadMs`. */
export function endsWithin(leadMs: number, startedAt: number, now: number, ratio: number): boolean {
  if (ratio < ESTIMATE_FROM_RATIO) return false;
  return ((now - startedAt) * (1 - ratio)) / ratio <= leadMs;
}

/** The lead after a prefetch that was asked for at `requestedAt` and held its chunk at `now`: twice that, bounded. */
export const leadAfter = (requestedAt: number, now: number): number =>
  Math.min(LEAD_MAX_MS, Math.max(LEAD_MIN_MS, 2 * (now - requestedAt)));
