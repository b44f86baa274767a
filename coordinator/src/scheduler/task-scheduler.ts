/**
 * Hands tasks to workers and settles them: the lease operations plus what
 * surrounds them (presigned URLs, segment checks, job progression). The
 * WebSocket gateway calls it; it holds no state a restart would lose.
 */
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { AssignMessage, CompleteMessage, FailMessage, HeartbeatMessage } from '@tabgrid/shared';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { settleTranscoding } from '../jobs/repository.js';
import { acceptSegment, beginVerification, claimTasks, failLease, reapExpiredLeases, releaseLeases, renewLease, type EndedLease, type LeasePolicy } from '../leases/index.js';
import type { Logger } from '../logger.js';
import type { MediaTools } from '../media/tools.js';
import { storageKeys } from '../storage/keys.js';
import type { Storage } from '../storage/storage.js';
import { Semaphore } from './semaphore.js';
import { verifySegment } from './verify-segment.js';

/** Presigned URLs outlive any sane lease: a slow tab must still be able to finish the upload it started. */
const PRESIGN_SECONDS = 30 * 60;

export type Assignment = Omit<AssignMessage, 'type' | 'id'>;

export interface SchedulerDeps {
  readonly db: Db;
  readonly storage: Storage;
  readonly tools: MediaTools;
  readonly config: Config;
  readonly logger: Logger;
  readonly policy: LeasePolicy;
  /** Called when a job may have moved (all tasks done → merging, a dead task → failed). */
  readonly onJobChanged: (jobId: string) => void;
}

export class TaskScheduler {
  private readonly checks = new Semaphore(2);
  private readonly log: Logger;

  constructor(private readonly deps: SchedulerDeps) {
    this.log = deps.logger.child({ component: 'scheduler' });
  }

  /** Leases the next task to `workerId`, or null when there is none. */
  async assign(workerId: string): Promise<Assignment | null> {
    const [task] = await claimTasks(this.deps.db, { workerId, limit: 1, policy: this.deps.policy });
    if (!task) return null;
    const segmentKey = storageKeys.segment(task.job_id, task.rendition, task.chunk_index, task.attempts);
    const [inputUrl, outputUrl] = await Promise.all([
      this.deps.storage.presignGet(task.chunk_key, PRESIGN_SECONDS),
      this.deps.storage.presignPut(segmentKey, PRESIGN_SECONDS),
    ]);
    this.log.info({ workerId, jobId: task.job_id, chunk: task.chunk_index, rendition: task.rendition, attempt: task.attempts }, 'leased task');
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
    await renewLease(this.deps.db, { taskId: msg.leaseId, token: msg.token, progress: msg.progress, policy: this.deps.policy });
  }

  /** Verifies the uploaded segment and accepts or rejects it. LeaseLostError if the lease is not current. */
  async complete(workerId: string, msg: CompleteMessage): Promise<{ accepted: boolean; reason?: string }> {
    const task = await beginVerification(this.deps.db, { taskId: msg.leaseId, token: msg.token, policy: this.deps.policy });
    const key = storageKeys.segment(task.job_id, task.rendition, task.chunk_index, task.attempts);
    let verdict;
    try {
      verdict = await this.checks.run(() =>
        verifySegment(
          { storage: this.deps.storage, tools: this.deps.tools, scratchDir: path.join(this.deps.config.dataDir, 'verify') },
          { key, size: msg.size, sha256: msg.sha256, params: task.params },
        ),
      );
    } catch (err) {
      verdict = { ok: false as const, reason: `the coordinator could not check the segment: ${(err as Error).message}` };
    }
    if (verdict.ok) {
      await acceptSegment(this.deps.db, { taskId: task.id, token: msg.token, segment: { key, size: msg.size, sha256: msg.sha256 } });
      await this.bumpWorker(workerId, 'tasks_done');
      this.log.info({ workerId, jobId: task.job_id, chunk: task.chunk_index, rendition: task.rendition, encodeMs: msg.encodeMs }, 'segment accepted');
      await this.settle(task.job_id);
      return { accepted: true };
    }
    this.log.warn({ workerId, jobId: task.job_id, chunk: task.chunk_index, rendition: task.rendition, reason: verdict.reason }, 'segment rejected');
    const ended = await failLease(this.deps.db, { taskId: task.id, token: msg.token, outcome: 'rejected', reason: `segment rejected: ${verdict.reason}`, policy: this.deps.policy });
    await this.deps.storage.remove(key).catch(() => undefined);
    await this.afterEnded([ended]);
    return { accepted: false, reason: verdict.reason };
  }

  async fail(msg: FailMessage): Promise<void> {
    const ended = await failLease(this.deps.db, { taskId: msg.leaseId, token: msg.token, outcome: 'failed', reason: `worker failed: ${msg.reason}`, policy: this.deps.policy });
    await this.afterEnded([ended]);
  }

  /** Leases of a worker that went away and did not come back in time. */
  async release(workerId: string, tokens: readonly string[], reason: string): Promise<void> {
    const ended = await releaseLeases(this.deps.db, { workerId, tokens, outcome: 'disconnected', reason, policy: this.deps.policy });
    if (ended.length > 0) this.log.info({ workerId, released: ended.length }, 'released leases of a disconnected worker');
    await this.afterEnded(ended);
  }

  async reap(): Promise<EndedLease[]> {
    const ended = await reapExpiredLeases(this.deps.db, { policy: this.deps.policy });
    if (ended.length > 0) this.log.info({ expired: ended.map((e) => ({ task: e.task_id, worker: e.worker_id, state: e.state })) }, 'reaped expired leases');
    await this.afterEnded(ended);
    return ended;
  }

  private async afterEnded(ended: readonly EndedLease[]): Promise<void> {
    for (const e of ended) if (e.worker_id && e.state) await this.bumpWorker(e.worker_id, 'tasks_failed');
    for (const jobId of new Set(ended.filter((e) => e.state === 'dead').map((e) => e.job_id))) await this.settle(jobId);
  }

  private async settle(jobId: string): Promise<void> {
    const moved = await settleTranscoding(this.deps.db, jobId);
    if (moved) {
      this.log.info({ jobId, state: moved }, 'transcoding settled');
      this.deps.onJobChanged(jobId);
    }
  }

  private async bumpWorker(workerId: string, column: 'tasks_done' | 'tasks_failed'): Promise<void> {
    await this.deps.db.execute(sql`UPDATE workers SET ${sql.raw(column)} = ${sql.raw(column)} + 1, last_seen_at = now() WHERE id = ${workerId}`);
  }
}
