/**
 * The task runner's vocabulary: what it reports, what it needs, and the pure
 * helpers it uses (kept apart so task-runner.ts is the flow alone).
 */
import { backoffDelay, type HeartbeatMessage } from '@tabgrid/shared';
import type { LogFn, OutgoingMessage } from './connection.js';
import type { Transcoder } from './transcoder/types.js';

export type Stage = HeartbeatMessage['stage'];
/** `checking`: uploaded, waiting for the coordinator's verdict on the segment. */
export type TaskStage = Stage | 'checking';

/** One rung of a batch as the page shows it. */
export interface RungStatus {
  readonly leaseId: string;
  readonly rendition: string;
  readonly attempt: number;
  readonly stage: TaskStage;
  /** While checking: when the same `complete` goes again (the coordinator asked us to retry). */
  readonly retryAt?: number;
}

/**
 * The batch the tab is working on (the rungs of one chunk it encodes from one
 * decode), summed up: the one in the encoder, else the oldest one still
 * uploading or waiting for verdicts.
 */
export interface CurrentTask {
  /** The first rung's lease. */
  readonly leaseId: string;
  readonly jobId: string;
  readonly chunk: number;
  /** The rungs' renditions, joined with '+' (e.g. "720p+480p+360p"). */
  readonly rendition: string;
  /** The highest attempt among the rungs. */
  readonly attempt: number;
  /** The earliest stage among the rungs still held. */
  readonly stage: TaskStage;
  /** Whole batch, 0..1: download is the first 10 %, transcode the next 80 %, uploads the last 10 %. */
  readonly progress: number;
  readonly frames?: number;
  /** Frames in the chunk. */
  readonly totalFrames: number;
  readonly startedAt: number;
  /** The soonest retry of a `complete` the coordinator could not check yet. */
  readonly retryAt?: number;
  readonly rungs: readonly RungStatus[];
}

/** One finished transcode, for the speed shown on the page. */
export interface TranscodeTiming {
  readonly frames: number;
  readonly encodeMs: number;
  /** frames ÷ the chunk's frame rate, when the encoder reported it. */
  readonly mediaSeconds?: number;
}

export interface RunnerStatus {
  readonly current: CurrentTask | null;
  /** Batches held: at most one encoding, plus those still uploading or waiting for verdicts. */
  readonly batches: number;
  /** Segments the coordinator accepted. */
  readonly done: number;
  /** Tasks we failed, plus segments the coordinator rejected. */
  readonly failures: number;
  readonly lastError: string | null;
  /** The last few transcodes, oldest first. */
  readonly recent: readonly TranscodeTiming[];
  /** Milliseconds this tab spent transcoding (every finished transcode). */
  readonly encodeMsTotal: number;
}

export interface RunnerDeps {
  readonly transcoder: () => Transcoder;
  /**
   * Whether to ask for the next chunk once a batch is encoded (heartbeat
   * `ready`) while its segments upload. False while pausing. Default: yes.
   */
  readonly acceptingWork?: () => boolean;
  readonly send: (msg: OutgoingMessage, opts?: { queue?: boolean }) => string | null;
  /** Read at every beat, so a new welcome's interval applies at once. */
  readonly heartbeatIntervalMs: () => number;
  readonly fetch?: typeof fetch;
  /** Download/upload retry schedule (tests shorten it). */
  readonly transferRetryDelaysMs?: readonly number[];
  readonly random?: () => number;
  readonly onChange?: (s: RunnerStatus) => void;
  readonly log?: LogFn;
}

export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * 2 s, 4 s, 8 s … plus up to 25 % jitter (so tabs that all hit the same
 * outage do not come back in step), capped at two heartbeat intervals (two
 * thirds of the lease TTL, 20 s by default): a retried `complete` also
 * renews the lease, and a wait as long as the TTL would let it expire.
 */
export function completeRetryDelay(tries: number, heartbeatMs: number, random: () => number = Math.random): number {
  return backoffDelay(tries, { initialMs: 2000, maxMs: Math.min(30_000, 2 * heartbeatMs), jitter: { addUpTo: 0.25 } }, random);
}
