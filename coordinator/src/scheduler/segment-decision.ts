/**
 * What becomes of a segment that passed the checks (verify-segment.ts): one
 * transaction that records it in task_results and, as replication.ts
 * decides, accepts it (verifying → done), confirms it against a replica, or
 * sends the task back to the queue for a replica (verifying → queued). The
 * submitting worker's row is locked first, so a catch (catch-worker.ts)
 * either comes before (the result is refused: a caught worker's results are
 * not used) or after (and then finds this result to withdraw).
 */
import { capabilitiesSchema } from '@tabgrid/shared';
import type { Db } from '../db/client.js';
import { acceptSegment, type EndedLease, failLease, type LeasePolicy, requeueForReplica, type TaskRow } from '../leases/index.js';
import { condemnRefused, decideResults, insertResult, type NewResult, pendingResults, type ResultRow } from '../tasks/task-results.js';
import { deterministicConfig } from '../workers/encoder-config.js';
import { recordConfirmed, recordSuccess, replicatorAvailable, TRUST_AFTER_CONFIRMED, workerTrust } from '../workers/worker-table.js';
import { type Decision, decideReplication, firstDifferingFrame } from './replication.js';
import type { SegmentCheck } from './verify-segment.js';

export interface ReplicationSettings {
  /** Share of a trusted worker's results sampled for a replica (REPLICA_SAMPLE_RATE). */
  readonly sampleRate: number;
  /** How long a result waits for a replica (REPLICA_WAIT_SECONDS). */
  readonly waitSeconds: number;
  /** REPLICAS_FROM_SAME_ADDRESS */
  readonly sameAddressOk: boolean;
  /** The coin for sampling, [0, 1): Math.random; tests pass their own. */
  readonly random: () => number;
}

/** Workers to catch once the decision is committed, each with why. */
export type Condemned = { workerId: string; reason: string }[];

export type SegmentOutcome =
  /**
   * The task is done with a checked segment. `outvoted`: workers that
   * disagreed with two agreeing replicas, or whose segment of this chunk the
   * content check refused (this one passed, so the content was checkable):
   * they must be caught.
   */
  | { kind: 'accepted'; decision: Decision; outvoted: Condemned }
  /** Recorded; the task went back to the queue for a replica. `outvoted` as above, for refusals. */
  | { kind: 'pending'; decision: Decision; ended: EndedLease; outvoted: Condemned }
  /** The worker was caught while it held this lease: its result is not used, the task goes back to the queue. */
  | { kind: 'refused'; reason: string; ended: EndedLease };

export async function settleCheckedSegment(
  deps: { db: Db; policy: LeasePolicy; replication: ReplicationSettings },
  opts: { workerId: string; task: TaskRow; token: string; size: number; check: Extract<SegmentCheck, { ok: true }> },
): Promise<SegmentOutcome> {
  const { task, token, check, workerId } = opts;
  const { replication } = deps;
  return deps.db.transaction(async (tx) => {
    const trust = await workerTrust(tx, workerId, { lock: true });
    if (trust?.caught_at && trust.quarantined) {
      const reason = 'this worker was caught returning wrong content; its results are not used';
      const ended = await failLease(tx, { taskId: task.id, token, outcome: 'rejected', reason, policy: deps.policy });
      return { kind: 'refused', reason, ended };
    }
    const caps = capabilitiesSchema.safeParse(
      typeof trust?.capabilities === 'string' ? JSON.parse(trust.capabilities) : trust?.capabilities,
    );
    // A WebCodecs task's result is checked by content only, whoever made it (workers/encoder-config.ts).
    const config = deterministicConfig(caps.success ? caps.data : null, task.params.encoder ?? 'x264');
    const address = trust?.address ?? null;
    const confirmed = trust?.confirmed_results ?? 0;
    const candidates = await pendingResults(tx, task.id);
    // This segment passed: earlier refusals of the same chunk were their workers' doing, not the content's.
    const refused: Condemned = (await condemnRefused(tx, { taskId: task.id, passedBy: workerId })).map((r) => ({
      workerId: r.worker_id,
      reason: `job ${task.job_id} chunk ${task.chunk_index} (${task.rendition}) attempt ${r.attempt}: ${r.reason ?? 'refused'}`,
    }));
    let decision = decideReplication({
      result: { workerId, address, config, framesSha256: check.framesSha256 },
      candidates,
      confirmedResults: confirmed,
      trustAfter: TRUST_AFTER_CONFIRMED,
      sampled: confirmed >= TRUST_AFTER_CONFIRMED && replication.random() < replication.sampleRate,
      sameAddressOk: replication.sameAddressOk,
    });
    if (
      decision.kind === 'want-replica' &&
      !(await replicatorAvailable(tx, {
        config: decision.config,
        workerId,
        address,
        sameAddressOk: replication.sameAddressOk,
        exclude: refused.map((r) => r.workerId),
      }))
    ) {
      decision = { kind: 'accept', why: `${decision.why}, but no independent replicator is connected` };
    }
    const result: NewResult = {
      taskId: task.id,
      attempt: task.attempts,
      workerId,
      address,
      encoderConfig: config,
      segmentKey: check.protectedKey,
      segmentSize: opts.size,
      segmentSha256: check.sha256,
      framesSha256: check.framesSha256,
      frameHashes: check.frameHashes,
      minSsim: check.worst.ssim,
      minPsnr: check.worst.psnr,
      minTilePsnr: check.worst.tilePsnr,
      verdict: 'pending',
      reason: 'why' in decision ? decision.why : null,
    };
    const accept = async (segment: { key: string; size: number; sha256: string }) => {
      await acceptSegment(tx, { taskId: task.id, token, segment });
      await recordSuccess(tx, workerId);
    };
    const own = { key: check.protectedKey, size: opts.size, sha256: check.sha256 };
    const unused = (rows: readonly ResultRow[], reason: string) =>
      decideResults(tx, { taskId: task.id, attempts: rows.map((r) => r.attempt), verdict: 'unused', reason });

    switch (decision.kind) {
      case 'accept': {
        await insertResult(tx, { ...result, verdict: 'accepted' });
        await unused(candidates, `attempt ${task.attempts} was accepted instead: ${decision.why}`);
        await accept(own);
        return { kind: 'accepted', decision, outvoted: refused };
      }
      case 'confirm': {
        const { agreeing, outvoted } = decision;
        await insertResult(tx, {
          ...result,
          verdict: 'confirmed',
          reason: `agrees with attempt(s) ${agreeing.map((a) => a.attempt).join(', ')}`,
        });
        await decideResults(tx, {
          taskId: task.id,
          attempts: agreeing.map((a) => a.attempt),
          verdict: 'confirmed',
          reason: `confirmed by attempt ${task.attempts} (worker ${workerId})`,
        });
        const reasons = outvoted.map((o) => {
          const frame = firstDifferingFrame(o.frame_hashes, check.frameHashes);
          return {
            workerId: o.worker_id,
            attempt: o.attempt,
            reason: `outvoted on job ${task.job_id} chunk ${task.chunk_index} (${task.rendition}): decoded frame ${frame ?? '?'} differs from two independent replicas`,
          };
        });
        for (const o of reasons) {
          await decideResults(tx, { taskId: task.id, attempts: [o.attempt], verdict: 'outvoted', reason: o.reason });
        }
        const voted = new Set([...agreeing, ...outvoted].map((r) => r.attempt));
        await unused(
          candidates.filter((c) => !voted.has(c.attempt)),
          'another encoder configuration: not compared',
        );
        await accept(own);
        await recordConfirmed(tx, [...new Set([workerId, ...agreeing.map((a) => a.worker_id)])]);
        return {
          kind: 'accepted',
          decision,
          outvoted: [...reasons.map(({ workerId: w, reason }) => ({ workerId: w, reason })), ...refused],
        };
      }
      case 'want-replica':
      case 'tie-break': {
        await insertResult(tx, { ...result, verdict: 'pending' });
        const ended = await requeueForReplica(tx, {
          taskId: task.id,
          token,
          config: decision.config,
          waitSeconds: replication.waitSeconds,
          reason: `passed the content check; waits for an independent replica (${decision.why})`,
        });
        await recordSuccess(tx, workerId);
        return { kind: 'pending', decision, ended, outvoted: refused };
      }
      case 'no-quorum': {
        const chosen = decision.chosen;
        await insertResult(tx, { ...result, verdict: chosen ? 'unused' : 'accepted' });
        await unused(
          candidates.filter((c) => c !== chosen),
          `no quorum (${decision.why}): another result was chosen`,
        );
        if (chosen) {
          await decideResults(tx, {
            taskId: task.id,
            attempts: [chosen.attempt],
            verdict: 'accepted',
            reason: `no quorum: ${decision.why}`,
          });
          await acceptSegment(tx, {
            taskId: task.id,
            token,
            segment: { key: chosen.segment_key, size: chosen.segment_size, sha256: chosen.segment_sha256 },
          });
          await recordSuccess(tx, workerId);
        } else await accept(own);
        return { kind: 'accepted', decision, outvoted: refused };
      }
    }
  });
}
