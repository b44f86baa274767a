/**
 * Hands tasks to workers and settles them: the lease operations plus what
 * surrounds them (presigned URLs, segment checks, job progression). The
 * WebSocket gateway calls it; it holds no state a restart would lose.
 */
import path from 'node:path';
import type { AssignMessage, CompleteMessage, FailMessage, HeartbeatMessage } from '@tabgrid/shared';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { settleTranscoding } from '../jobs/settle.js';
import {
  acceptSegment,
  beginVerification,
  claimOutlook,
  claimTasks,
  claimableExists,
  failLease,
  reapExpiredLeases,
  releaseAllLeases,
  releaseLeases,
  renewLease,
  resumeLease,
  undoVerification,
  type EndedLease,
  type LeasePolicy,
  type TaskRow,
} from '../leases/index.js';
import type { Logger } from '../logger.js';
import type { Notifier } from '../notify/index.js';
import type { MediaTools } from '../media/tools.js';
import { storageKeys } from '../storage/keys.js';
import type { Storage } from '../storage/storage.js';
import { LeaseLostError } from '../errors.js';
import { segmentOwnership, wasAcceptedFrom } from '../tasks/task-table.js';
import { QUARANTINE_AFTER, recordFailure, recordSuccess } from '../workers/worker-table.js';
import { Semaphore } from './semaphore.js';
import { verifySegment } from './verify-segment.js';
import type { SegmentVerdict } from '../media/inspect-segment.js';

/** Presigned URLs outlive any sane lease: a slow tab must still be able to finish the upload it started. */
const PRESIGN_SECONDS = 30 * 60;

export type Assignment = Omit<AssignMessage, 'type' | 'id'>;
export interface CompletionResult {
  accepted: boolean;
  reason?: string;
  /** Not decided: the check could not run; the tab keeps its lease and sends complete again. */
  retry?: boolean;
}

export interface SchedulerDeps {
  readonly db: Db;
  readonly storage: Storage;
  readonly tools: MediaTools;
  readonly config: Config;
  readonly logger: Logger;
  readonly policy: LeasePolicy;
  /** Told of every change: jobs that moved, tasks back in the queue, workers quarantined. */
  readonly notifier: Notifier;
}

export class TaskScheduler {
  private readonly checks = new Semaphore(2);
  private readonly completing = new Map<string, Promise<CompletionResult>>();
  private readonly log: Logger;
  private readonly backoffTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly deps: SchedulerDeps) {
    this.log = deps.logger.child({ component: 'scheduler' });
  }

  /** Whether any task is claimable now by a worker that is not blocked (the dispatcher's first question each round). */
  hasClaimableWork(): Promise<boolean> {
    return claimableExists(this.deps.db);
  }

  /** Why `workerId` got nothing: no work left, or it is blocked (quarantine) until when. */
  whyNothingFor(workerId: string): Promise<{ workLeft: boolean; blockedUntil: Date | null }> {
    return claimOutlook(this.deps.db, workerId);
  }

  /** Leases the next task to `workerId`, or null when there is none. */
  async assign(workerId: string): Promise<Assignment | null> {
    const [task] = await claimTasks(this.deps.db, { workerId, limit: 1, policy: this.deps.policy });
    if (!task) return null;
    this.deps.notifier.publish({ kind: 'job', jobId: task.job_id });
    const segmentKey = storageKeys.segment(task.job_id, task.rendition, task.chunk_index, task.attempts);
    const [inputUrl, outputUrl] = await Promise.all([
      this.deps.storage.presignGet(task.chunk_key, PRESIGN_SECONDS),
      this.deps.storage.presignPut(segmentKey, PRESIGN_SECONDS),
    ]);
    this.log.info(
      { workerId, jobId: task.job_id, chunk: task.chunk_index, rendition: task.rendition, attempt: task.attempts },
      'leased task',
    );
    return {
      leaseId: task.id,
      token: task.lease_token!,
      attempt: task.attempts,
      jobId: task.job_id,
      chunk: task.chunk_index,
      input: { url: inputUrl, size: task.chunk_size },
      output: { url: outputUrl, contentType: 'video/mp4' },
      params: task.params,
    };
  }

  async heartbeat(msg: HeartbeatMessage): Promise<void> {
    await renewLease(this.deps.db, {
      taskId: msg.leaseId,
      token: msg.token,
      progress: msg.progress,
      policy: this.deps.policy,
    });
    // The grid shows progress; a thousand heartbeats become one notification before they leave the process.
    this.deps.notifier.publish({ kind: 'progress' });
  }

  /**
   * Verifies the uploaded segment and accepts or rejects it. LeaseLostError
   * if the lease is not current. When the check itself cannot run (storage
   * down, ffprobe missing), nobody is blamed: the lease goes back to the tab,
   * which keeps its result and sends `complete` again later.
   */
  async complete(workerId: string, msg: CompleteMessage): Promise<CompletionResult> {
    // A tab that re-sends `complete` (its connection dropped while we checked)
    // shares the check already running instead of starting a second one,
    // which could otherwise undo the first one's verifying state.
    const running = this.completing.get(msg.token);
    if (running) return running;
    const result = this.completeOnce(workerId, msg);
    this.completing.set(msg.token, result);
    try {
      return await result;
    } finally {
      this.completing.delete(msg.token);
    }
  }

  private async completeOnce(workerId: string, msg: CompleteMessage): Promise<CompletionResult> {
    let task: TaskRow;
    try {
      task = await beginVerification(this.deps.db, { taskId: msg.leaseId, token: msg.token, policy: this.deps.policy });
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
      // The answer to an accepted completion was lost and the tab sent it again:
      // say yes again (idempotent; nothing is counted twice).
      if (await wasAcceptedFrom(this.deps.db, { taskId: msg.leaseId, workerId, sha256: msg.sha256, size: msg.size })) {
        return { accepted: true };
      }
      await this.sweepStaleSegments(msg.leaseId);
      throw err;
    }
    this.deps.notifier.publish({ kind: 'job', jobId: task.job_id });
    const key = storageKeys.segment(task.job_id, task.rendition, task.chunk_index, task.attempts);
    let verdict: SegmentVerdict;
    try {
      verdict = await this.checks.run(() =>
        verifySegment(
          { storage: this.deps.storage, tools: this.deps.tools, scratchDir: path.join(this.deps.config.dataDir, 'verify') },
          { key, size: msg.size, sha256: msg.sha256, params: task.params },
        ),
      );
    } catch (err) {
      const reason = `the coordinator could not check the segment now (${(err as Error).message}); keep it and send complete again`;
      this.log.warn(
        { workerId, jobId: task.job_id, chunk: task.chunk_index, rendition: task.rendition, err: (err as Error).message },
        'segment check could not run; the tab will retry',
      );
      await undoVerification(this.deps.db, { taskId: task.id, token: msg.token, policy: this.deps.policy });
      this.deps.notifier.publish({ kind: 'job', jobId: task.job_id });
      return { accepted: false, retry: true, reason };
    }
    if (verdict.ok) {
      await acceptSegment(this.deps.db, { taskId: task.id, token: msg.token, segment: { key, size: msg.size, sha256: msg.sha256 } });
      await this.recordSuccess(workerId);
      this.deps.notifier.publish({ kind: 'job', jobId: task.job_id });
      this.log.info(
        { workerId, jobId: task.job_id, chunk: task.chunk_index, rendition: task.rendition, encodeMs: msg.encodeMs },
        'segment accepted',
      );
      await this.settle(task.job_id);
      return { accepted: true };
    }
    this.log.warn(
      { workerId, jobId: task.job_id, chunk: task.chunk_index, rendition: task.rendition, reason: verdict.reason },
      'segment rejected',
    );
    const ended = await failLease(this.deps.db, {
      taskId: task.id,
      token: msg.token,
      outcome: 'rejected',
      reason: `segment rejected: ${verdict.reason}`,
      policy: this.deps.policy,
    });
    await this.deps.storage.remove(key).catch(() => undefined);
    await this.afterEnded([ended], 'failure');
    return { accepted: false, reason: verdict.reason };
  }

  /** The tab gave up on its lease. Only the lease's owner can: LeaseLostError for anyone else, or a stale token. */
  async fail(workerId: string, msg: FailMessage): Promise<void> {
    const ended = await failLease(this.deps.db, {
      taskId: msg.leaseId,
      token: msg.token,
      outcome: 'failed',
      reason: `worker failed: ${msg.reason}`,
      policy: this.deps.policy,
      workerId,
    });
    await this.afterEnded([ended], 'failure');
  }

  /**
   * A refused completion usually comes with an upload to the zombie's own
   * attempt key, possibly after the job's cleanup ran. Delete the segments of
   * this task that can never be used: every attempt older than the current
   * one, or all but the accepted one once the task has settled.
   */
  private async sweepStaleSegments(taskId: string): Promise<void> {
    const task = await segmentOwnership(this.deps.db, taskId);
    if (!task) return;
    const settled = task.state === 'done' || task.state === 'dead' || task.state === 'canceled';
    const stale = Array.from({ length: settled ? task.attempts : task.attempts - 1 }, (_, i) =>
      storageKeys.segment(task.job_id, task.rendition, task.chunk_index, i + 1),
    );
    for (const key of stale) if (key !== task.segment_key) await this.deps.storage.remove(key).catch(() => undefined);
  }

  /** A reconnecting tab still working on its lease keeps it if the token is current and the lease is its own (renewing it); LeaseLostError otherwise. */
  async resume(workerId: string, lease: { leaseId: string; token: string }): Promise<void> {
    await resumeLease(this.deps.db, { taskId: lease.leaseId, token: lease.token, policy: this.deps.policy, workerId });
  }

  /** Leases of a worker that went away and did not come back (to any coordinator) in time. */
  async release(workerId: string, tokens: readonly string[], reason: string): Promise<void> {
    const ended = await releaseLeases(this.deps.db, {
      workerId,
      tokens,
      outcome: 'disconnected',
      reason,
      policy: this.deps.policy,
      onlyIfDisconnected: true,
    });
    if (ended.length > 0) this.log.info({ workerId, released: ended.length }, 'released leases of a disconnected worker');
    await this.afterEnded(ended, 'neutral');
  }

  /** A lease claimed for a tab that left before it could be sent: back to the queue at once, nobody blamed. */
  async releaseUnsent(workerId: string, token: string): Promise<void> {
    const ended = await releaseLeases(this.deps.db, {
      workerId,
      tokens: [token],
      outcome: 'disconnected',
      reason: 'the tab left before its assignment was sent',
      policy: this.deps.policy,
    });
    await this.afterEnded(ended, 'neutral');
  }

  /** A tab that says hello holding nothing has lost whatever it was working on (a reload, a crash). */
  async releaseAll(workerId: string): Promise<void> {
    const ended = await releaseAllLeases(this.deps.db, {
      workerId,
      outcome: 'disconnected',
      reason: 'the tab restarted and lost its work',
      policy: this.deps.policy,
    });
    if (ended.length > 0) this.log.info({ workerId, released: ended.length }, 'released leases of a restarted tab');
    await this.afterEnded(ended, 'neutral');
  }

  /** Expires every lease not renewed in time (the reaper calls this); the tabs holding them are told to stop. */
  async reap(): Promise<EndedLease[]> {
    const ended = await reapExpiredLeases(this.deps.db, { policy: this.deps.policy });
    if (ended.length === 0) return ended;
    this.log.info({ expired: ended.map((e) => ({ task: e.task_id, worker: e.worker_id, state: e.state })) }, 'reaped expired leases');
    this.deps.notifier.publish({
      kind: 'revoke',
      leaseIds: ended.map((e) => e.task_id),
      reason: 'the lease expired: no heartbeat in time',
    });
    await this.afterEnded(ended, 'failure');
    return ended;
  }

  /**
   * After leases ended: the workers are blamed or not, dead tasks settle
   * their jobs, and requeued tasks are announced once their backoff is over.
   * Disconnects are not held against a worker (people close tabs); failures,
   * rejections and silence are.
   */
  private async afterEnded(ended: readonly EndedLease[], blame: 'failure' | 'neutral'): Promise<void> {
    if (blame === 'failure') for (const e of ended) if (e.worker_id) await this.recordFailure(e.worker_id);
    for (const jobId of new Set(ended.map((e) => e.job_id))) this.deps.notifier.publish({ kind: 'job', jobId });
    for (const jobId of new Set(ended.filter((e) => e.state === 'dead').map((e) => e.job_id))) await this.settle(jobId);
    const requeued = ended.filter((e) => e.state === 'queued');
    if (requeued.length > 0) this.announceWorkAt(new Date(Math.min(...requeued.map((e) => new Date(e.available_at).getTime()))));
  }

  /** Tells every coordinator's dispatcher there is work, now or when a retry backoff ends. */
  private announceWorkAt(at: Date): void {
    const delay = at.getTime() - Date.now();
    if (delay <= 0) {
      this.deps.notifier.publish({ kind: 'work' });
      return;
    }
    const timer = setTimeout(() => {
      this.backoffTimers.delete(timer);
      this.deps.notifier.publish({ kind: 'work' });
    }, delay);
    timer.unref();
    this.backoffTimers.add(timer);
  }

  private async settle(jobId: string): Promise<void> {
    const moved = await settleTranscoding(this.deps.db, jobId);
    if (moved) {
      this.log.info({ jobId, state: moved }, 'transcoding settled');
      this.deps.notifier.publish({ kind: 'job', jobId });
    }
  }

  /** One accepted segment: counted, and any quarantine lifted. */
  private async recordSuccess(workerId: string): Promise<void> {
    await recordSuccess(this.deps.db, workerId);
    this.deps.notifier.publish({ kind: 'workers' });
  }

  /** A failure counts towards quarantine (workers/worker-table.ts). */
  private async recordFailure(workerId: string): Promise<void> {
    const row = await recordFailure(this.deps.db, workerId);
    this.deps.notifier.publish({ kind: 'workers' });
    if (row && row.consecutive_failures >= QUARANTINE_AFTER) {
      this.log.warn(
        { workerId, failuresInARow: row.consecutive_failures, until: row.quarantined_until },
        'worker quarantined: it keeps failing',
      );
    }
  }

  /** Forgets pending backoff announcements (the safety polls find that work anyway). */
  close(): void {
    for (const t of this.backoffTimers) clearTimeout(t);
    this.backoffTimers.clear();
  }
}
