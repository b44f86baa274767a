/**
 * The completion of a task: a tab says its segment is uploaded, and the
 * coordinator checks it (verify-segment.ts: transfer, decode, content) and
 * accepts it, records it for a replica (segment-decision.ts,
 * replication.ts), or rejects it, catching a worker whose segment is
 * malformed or shows the wrong content (catch-worker.ts; see `refuse`).
 *
 * When the check itself cannot run (storage down, ffmpeg missing), nobody is
 * blamed: the lease goes back to the tab, which keeps its result and sends
 * `complete` again later. While the segment waits for one of the checker
 * slots and is checked, this coordinator holds its lease (holdVerification
 * every third of the TTL), so a busy coordinator never expires honest work;
 * if it dies meanwhile, the hold lapses and the reaper requeues the task
 * without blaming the tab (leases/check-hold.ts).
 */
import path from 'node:path';
import type { CompleteMessage } from '@tabgrid/shared';
import { LeaseLostError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import { beginVerification, type EndedLease, failLease, holdVerification, type TaskRow, undoVerification } from '../leases/index.js';
import { renewEveryMs } from '../leases/policy.js';
import type { Logger } from '../logger.js';
import { storageKeys } from '../storage/keys.js';
import { decideResults, insertResult, passedByAnother, wasSubmittedFrom } from '../tasks/task-results.js';
import { wasAcceptedFrom } from '../tasks/task-table.js';
import { workerTrust } from '../workers/worker-table.js';
import { catchWorker } from './catch-worker.js';
import { type ReplicationSettings, settleCheckedSegment } from './segment-decision.js';
import { Semaphore } from './semaphore.js';
import type { CompletionResult, SchedulerDeps } from './task-scheduler.js';
import { type SegmentCheck, verifySegment } from './verify-segment.js';

/** What the completion needs back from the scheduler. */
export interface CompletionHooks {
  /** Blame (or not) the workers of ended leases, settle dead tasks' jobs, announce requeued work. */
  afterEnded(ended: readonly EndedLease[], blame: 'failure' | 'neutral'): Promise<void>;
  /** transcoding → merging (or failed) when the job's tasks allow. */
  settle(jobId: string): Promise<void>;
  /** Deletes the task's uploads that can never be used (a refused completion's zombie upload). */
  sweepStaleSegments(taskId: string): Promise<void>;
}

export class SegmentCompleter {
  private readonly checks: Semaphore;
  private readonly completing = new Map<string, Promise<CompletionResult>>();

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly replication: ReplicationSettings,
    private readonly hooks: CompletionHooks,
    private readonly log: Logger,
  ) {
    this.checks = new Semaphore(deps.checkSlots ?? 2);
  }

  /** See the module comment. LeaseLostError if the lease is not current. */
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
      // The answer to an accepted (or recorded) completion was lost and the tab
      // sent it again: say yes again (idempotent; nothing is counted twice).
      const same = { taskId: msg.leaseId, workerId, sha256: msg.sha256, size: msg.size };
      if ((await wasAcceptedFrom(this.deps.db, same)) || (await wasSubmittedFrom(this.deps.db, same))) return { accepted: true };
      await this.hooks.sweepStaleSegments(msg.leaseId);
      throw err;
    }
    this.deps.notifier.publish({ kind: 'job', jobId: task.job_id });
    const ids = { workerId, jobId: task.job_id, chunk: task.chunk_index, rendition: task.rendition, attempt: task.attempts };
    const key = storageKeys.segment(task.job_id, task.rendition, task.chunk_index, task.attempts);
    const stopHolding = this.holdWhileChecking(task.id, msg.token, ids);
    try {
      let check: SegmentCheck;
      try {
        check = await this.checks.run(async () => {
          await failpoint(this.deps.config.failpoints, 'verify.before-check', this.log);
          return verifySegment(
            { storage: this.deps.storage, tools: this.deps.tools, scratchDir: path.join(this.deps.config.dataDir, 'verify') },
            {
              key,
              size: msg.size,
              sha256: msg.sha256,
              params: task.params,
              chunkKey: task.chunk_key,
              protectedKey: storageKeys.verifiedSegment(task.job_id, task.rendition, task.chunk_index, task.attempts),
            },
          );
        });
      } catch (err) {
        const reason = `the coordinator could not check the segment now (${(err as Error).message.slice(0, 500)}); keep it and send complete again`;
        this.log.warn({ ...ids, err: (err as Error).message }, 'segment check could not run; the tab will retry');
        await undoVerification(this.deps.db, { taskId: task.id, token: msg.token, policy: this.deps.policy });
        this.deps.notifier.publish({ kind: 'job', jobId: task.job_id });
        return { accepted: false, retry: true, reason };
      }
      if (!check.ok) return await this.refuse(task, { token: msg.token, key, size: msg.size }, check, ids);
      const outcome = await settleCheckedSegment(
        { db: this.deps.db, policy: this.deps.policy, replication: this.replication },
        { workerId, task, token: msg.token, size: msg.size, check },
      );
      // The checked bytes live on under the protected key; the tab's upload is
      // deleted, so one that reappears was written after the check
      // (pipeline/merge-step.ts catches its author).
      await this.deps.storage.remove(key).catch(() => undefined);
      this.deps.notifier.publish({ kind: 'job', jobId: task.job_id });
      this.deps.notifier.publish({ kind: 'workers' });
      if (outcome.kind === 'refused') {
        this.log.warn({ ...ids, reason: outcome.reason }, 'segment refused: its worker was caught');
        await this.hooks.afterEnded([outcome.ended], 'neutral');
        return { accepted: false, reason: outcome.reason };
      }
      if (outcome.kind === 'pending') {
        this.log.info(
          { ...ids, decision: outcome.decision, contentMs: Math.round(check.contentMs) },
          'segment passed; waits for a replica',
        );
        await this.hooks.afterEnded([outcome.ended], 'neutral');
        for (const o of outcome.outvoted) await catchWorker(this.deps, { workerId: o.workerId, reason: o.reason });
        return { accepted: true, reason: 'the segment passed the check; another volunteer transcodes this chunk too, to confirm it' };
      }
      this.log.info(
        { ...ids, encodeMs: msg.encodeMs, contentMs: Math.round(check.contentMs), decision: outcome.decision.kind, worst: check.worst },
        'segment accepted',
      );
      for (const o of outcome.outvoted) await catchWorker(this.deps, { workerId: o.workerId, reason: o.reason });
      await this.hooks.settle(task.job_id);
      return { accepted: true };
    } finally {
      stopHolding();
    }
  }

  /** Renews the verifying lease every third of the TTL until stopped: waiting for a checker slot is not the tab's doing. */
  private holdWhileChecking(taskId: string, token: string, ids: Record<string, unknown>): () => void {
    const timer = setInterval(() => {
      holdVerification(this.deps.db, { taskId, token, policy: this.deps.policy })
        .then((held) => {
          if (!held) this.log.info(ids, 'the lease ended while its segment was being checked (canceled?)');
        })
        .catch((err: unknown) =>
          this.log.warn({ ...ids, err: (err as Error).message }, 'could not hold the lease of a segment being checked'),
        );
    }, renewEveryMs(this.deps.policy.ttlSeconds));
    return () => clearInterval(timer);
  }

  /**
   * A segment that failed its check: the lease ends as `rejected` (backoff)
   * and the upload is deleted. Then, by fault (verify-segment.ts):
   *   format     the worker is caught at once (catch-worker.ts): no honest
   *              encoder makes the wrong size or count, or undecodable bytes;
   *   content    recorded as `refused`; the worker is caught now if another
   *              worker's segment of this chunk already passed, or later
   *              when one does (segment-decision.ts). Until then it is an
   *              ordinary failure: a source no encoder can carry at the
   *              rung's bitrate cap must not get honest volunteers caught;
   *              it fails its job instead, naming the frame and score;
   *   transfer   an ordinary failure (a transfer can go wrong).
   */
  private async refuse(
    task: TaskRow,
    upload: { token: string; key: string; size: number },
    check: Extract<SegmentCheck, { ok: false }>,
    ids: { workerId: string } & Record<string, unknown>,
  ): Promise<CompletionResult> {
    this.log.warn({ ...ids, reason: check.reason, fault: check.fault, worst: check.worst }, 'segment rejected');
    const workerId = ids.workerId;
    let catchNow = check.fault === 'format';
    const ended = await this.deps.db.transaction(async (tx) => {
      const lease = await failLease(tx, {
        taskId: task.id,
        token: upload.token,
        outcome: 'rejected',
        reason: `segment rejected: ${check.reason}`,
        policy: this.deps.policy,
      });
      if (check.fault !== 'content') return lease;
      await insertResult(tx, {
        taskId: task.id,
        attempt: task.attempts,
        workerId,
        address: (await workerTrust(tx, workerId, { lock: false }))?.address ?? null,
        encoderConfig: null,
        segmentKey: upload.key,
        segmentSize: upload.size,
        segmentSha256: check.sha256 ?? '',
        framesSha256: null,
        frameHashes: null,
        minSsim: check.worst?.ssim ?? null,
        minPsnr: check.worst?.psnr ?? null,
        minTilePsnr: check.worst?.tilePsnr ?? null,
        verdict: 'refused',
        reason: check.reason,
      });
      if (await passedByAnother(tx, { taskId: task.id, workerId })) {
        catchNow = true;
        await decideResults(tx, {
          taskId: task.id,
          attempts: [task.attempts],
          verdict: 'outvoted',
          reason: `refused by the content check, and another worker's segment of this chunk passed it: ${check.reason}`,
        });
      }
      return lease;
    });
    await this.deps.storage.remove(upload.key).catch(() => undefined);
    if (catchNow) {
      await catchWorker(this.deps, {
        workerId,
        reason: `job ${task.job_id} chunk ${task.chunk_index} (${task.rendition}): ${check.reason}`,
      });
      await this.hooks.afterEnded([ended], 'neutral');
    } else await this.hooks.afterEnded([ended], 'failure');
    return { accepted: false, reason: check.reason };
  }
}
