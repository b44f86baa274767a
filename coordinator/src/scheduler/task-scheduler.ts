/**
 * Hands tasks to workers and settles them: the lease operations plus what
 * surrounds them (presigned URLs, segment checks, job progression). The
 * WebSocket gateway calls it; it holds no state a restart would lose. The
 * completion of a task (check, replication, rejection) is complete-segment.ts.
 */
import { MAX_RUNGS_PER_ASSIGN, type AssignMessage, type CompleteMessage, type FailMessage, type HeartbeatMessage } from '@tabgrid/shared';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { settleTranscoding } from '../jobs/settle.js';
import {
  claimOutlook,
  claimTasks,
  claimableExists,
  expireStalledChecks,
  failLease,
  reapExpiredLeases,
  releaseAllLeases,
  releaseLeases,
  renewLeases,
  resumeLease,
  type EndedLease,
  type LeasePolicy,
} from '../leases/index.js';
import type { Logger } from '../logger.js';
import type { Notifier } from '../notify/index.js';
import type { MediaTools } from '../media/tools.js';
import { storageKeys } from '../storage/keys.js';
import type { Storage } from '../storage/storage.js';
import { segmentOwnership } from '../tasks/task-table.js';
import { QUARANTINE_AFTER, recordFailure } from '../workers/worker-table.js';
import { SegmentCompleter } from './complete-segment.js';
import { settleUnreplicated } from './replica-sweep.js';
import type { ReplicationSettings } from './segment-decision.js';
import { maxSegmentBytes, TRANSFER_URL_SECONDS } from './segment-limits.js';

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
  /** Segment checks at once (default 2: each decodes two videos, and two cores are all there is). */
  readonly checkSlots?: number;
  /** The coin that samples trusted workers' results for a replica (default Math.random). */
  readonly random?: () => number;
}

export class TaskScheduler {
  private readonly completer: SegmentCompleter;
  private readonly log: Logger;
  private readonly backoffTimers = new Set<NodeJS.Timeout>();

  private readonly replication: ReplicationSettings;

  constructor(private readonly deps: SchedulerDeps) {
    this.log = deps.logger.child({ component: 'scheduler' });
    this.replication = {
      sampleRate: deps.config.replicaSampleRate,
      waitSeconds: deps.config.replicaWaitSeconds,
      sameAddressOk: deps.config.replicasFromSameAddress,
      random: deps.random ?? Math.random,
    };
    this.completer = new SegmentCompleter(
      deps,
      this.replication,
      {
        afterEnded: (ended, blame) => this.afterEnded(ended, blame),
        settle: (jobId) => this.settle(jobId),
        sweepStaleSegments: (taskId) => this.sweepStaleSegments(taskId),
      },
      this.log,
    );
  }

  /** Whether any task is claimable now by a worker that is not blocked (the dispatcher's first question each round). */
  hasClaimableWork(): Promise<boolean> {
    return claimableExists(this.deps.db);
  }

  /** Why `workerId` got nothing: no work left, or it is blocked (quarantine) until when. */
  whyNothingFor(workerId: string): Promise<{ workLeft: boolean; blockedUntil: Date | null }> {
    return claimOutlook(this.deps.db, workerId);
  }

  /**
   * Leases `workerId` up to `maxRungs` rungs of the next chunk (the tab
   * decodes it once for all of them), or null when there is none: one
   * presigned GET for the chunk, one presigned PUT per rung, tallest rung
   * first.
   */
  async assign(workerId: string, maxRungs = 1): Promise<Assignment | null> {
    const limit = Math.max(1, Math.min(MAX_RUNGS_PER_ASSIGN, Math.floor(maxRungs)));
    const claimed = await claimTasks(this.deps.db, { workerId, limit, policy: this.deps.policy });
    const [head] = claimed;
    if (!head) return null;
    this.deps.notifier.publish({ kind: 'job', jobId: head.job_id });
    const tasks = [...claimed].sort((a, b) => b.params.width * b.params.height - a.params.width * a.params.height);
    const [inputUrl, ...outputUrls] = await Promise.all([
      this.deps.storage.presignGet(head.chunk_key, TRANSFER_URL_SECONDS),
      ...tasks.map((t) =>
        this.deps.storage.presignPut(storageKeys.segment(t.job_id, t.rendition, t.chunk_index, t.attempts), TRANSFER_URL_SECONDS, {
          maxBytes: maxSegmentBytes(t.params),
        }),
      ),
    ]);
    for (const t of tasks) {
      this.log.info(
        { workerId, jobId: t.job_id, chunk: t.chunk_index, rendition: t.rendition, attempt: t.attempts, batch: tasks.length },
        'leased task',
      );
    }
    return {
      jobId: head.job_id,
      chunk: head.chunk_index,
      input: { url: inputUrl!, size: head.chunk_size },
      rungs: tasks.map((t, i) => ({
        leaseId: t.id,
        token: t.lease_token!,
        attempt: t.attempts,
        output: { url: outputUrls[i]!, contentType: 'video/mp4' as const },
        params: t.params,
      })),
    };
  }

  /** Renews every lease the heartbeat names (one statement); returns the ids of those that were lost. */
  async heartbeat(msg: HeartbeatMessage): Promise<string[]> {
    const renewed = new Set(await renewLeases(this.deps.db, { leases: msg.leases, progress: msg.progress, policy: this.deps.policy }));
    // The grid shows progress; a thousand heartbeats become one notification before they leave the process.
    if (renewed.size > 0) this.deps.notifier.publish({ kind: 'progress' });
    return msg.leases.filter((l) => !renewed.has(l.leaseId)).map((l) => l.leaseId);
  }

  /**
   * Checks the uploaded segment and accepts it, records it for a replica, or
   * rejects it (complete-segment.ts). LeaseLostError if the lease is not
   * current; `retry` when the check itself could not run.
   */
  complete(workerId: string, msg: CompleteMessage): Promise<CompletionResult> {
    return this.completer.complete(workerId, msg);
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

  /** Leases claimed for a tab that left before they could be sent: back to the queue at once, nobody blamed. */
  async releaseUnsent(workerId: string, tokens: readonly string[]): Promise<void> {
    const ended = await releaseLeases(this.deps.db, {
      workerId,
      tokens,
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

  /**
   * Expires every lease not renewed in time (the reaper calls this); the tabs
   * holding them are told to stop. A verifying lease only expires when the
   * coordinator holding its check stopped renewing it: not the tab's fault.
   * Then settles tasks whose replica will not come (replica-sweep.ts).
   */
  async reap(): Promise<EndedLease[]> {
    const stalled = await expireStalledChecks(this.deps.db, { policy: this.deps.policy });
    if (stalled.length > 0) {
      this.log.warn(
        { expired: stalled.map((e) => ({ task: e.task_id, worker: e.worker_id })) },
        'segment checks stalled; requeued without blame',
      );
      await this.afterEnded(stalled, 'neutral');
    }
    await this.settleUnreplicated();
    const ended = await reapExpiredLeases(this.deps.db, { policy: this.deps.policy });
    if (ended.length === 0) return stalled;
    this.log.info({ expired: ended.map((e) => ({ task: e.task_id, worker: e.worker_id, state: e.state })) }, 'reaped expired leases');
    this.deps.notifier.publish({
      kind: 'revoke',
      leaseIds: ended.map((e) => e.task_id),
      reason: 'the lease expired: no heartbeat in time',
    });
    await this.afterEnded(ended, 'failure');
    return [...stalled, ...ended];
  }

  /** Tasks that wait for a replica that will not come are settled on the content check alone. */
  async settleUnreplicated(): Promise<void> {
    const { settled, reopened } = await settleUnreplicated({
      db: this.deps.db,
      storage: this.deps.storage,
      logger: this.log,
      sameAddressOk: this.replication.sameAddressOk,
    });
    for (const jobId of settled) {
      this.deps.notifier.publish({ kind: 'job', jobId });
      await this.settle(jobId);
    }
    if (reopened > 0) this.deps.notifier.publish({ kind: 'work' });
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
