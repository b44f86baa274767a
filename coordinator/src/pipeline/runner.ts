/**
 * The pipeline runner: repeatedly claims one job that needs server work
 * (probe, split or merge), runs that step under a renewed step lease, and
 * releases it. One step at a time per coordinator: split and merge are
 * ffmpeg runs that already use the machine's cores.
 *
 * Failures: a PermanentError (not a video, …) fails the job with its
 * message; anything else is retried with backoff, and after
 * MAX_STEP_ATTEMPTS the job fails with the last error.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TERMINAL_JOB_STATES } from '@tabgrid/shared';
import { PermanentError } from '../errors.js';
import { getJob, transitionJob, type JobRow } from '../jobs/repository.js';
import { claimJobStep, releaseJobStep, renewJobStep } from '../jobs/step-lease.js';
import { runCleanupStep } from './cleanup-step.js';
import type { PipelineContext } from './context.js';
import { runMergeStep } from './merge-step.js';
import { runProbeStep } from './probe-step.js';
import { runSplitStep } from './split-step.js';

const STEP_TTL_SECONDS = 30;
const MAX_STEP_ATTEMPTS = 5;

export interface PipelineRunner {
  /** Look for work now rather than at the next poll. */
  poke(): void;
  stop(): Promise<void>;
}

export function startPipelineRunner(
  ctx: PipelineContext,
  runnerId: string,
  opts: { pollMs?: number; onJobChanged?: (jobId: string) => void } = {},
): PipelineRunner {
  const pollMs = opts.pollMs ?? 1000;
  let stopped = false;
  let wake: (() => void) | undefined;
  const log = ctx.logger.child({ component: 'pipeline', runnerId });

  async function runOne(): Promise<boolean> {
    const jobId = await claimJobStep(ctx.db, { runnerId, ttlSeconds: STEP_TTL_SECONDS });
    if (!jobId) return false;
    const job = await getJob(ctx.db, jobId);
    if (!job) return true;
    const renew = setInterval(
      () => {
        renewJobStep(ctx.db, { jobId, runnerId, ttlSeconds: STEP_TTL_SECONDS }).catch((err: unknown) =>
          log.warn({ jobId, err }, 'could not renew step lease'),
        );
      },
      (STEP_TTL_SECONDS * 1000) / 3,
    );
    try {
      await runStep(job);
      await releaseJobStep(ctx.db, { jobId, runnerId, retryInSeconds: 0, resetAttempts: true });
    } catch (err) {
      await handleStepError(job, err);
    } finally {
      clearInterval(renew);
      opts.onJobChanged?.(jobId);
    }
    return true;
  }

  async function runStep(job: JobRow): Promise<void> {
    const started = Date.now();
    if (TERMINAL_JOB_STATES.includes(job.state)) {
      if (job.needsCleanup) await runCleanupStep(ctx, job);
      return;
    }
    switch (job.state) {
      case 'queued':
        await transitionJob(ctx.db, job.id, ['queued'], 'probing');
        return;
      case 'probing':
        await runProbeStep(ctx, job);
        break;
      case 'splitting':
        await runSplitStep(ctx, job);
        break;
      case 'merging':
        await runMergeStep(ctx, job);
        break;
      default:
        return;
    }
    log.info({ jobId: job.id, step: job.state, ms: Date.now() - started }, 'step finished');
  }

  async function handleStepError(job: JobRow, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    const cleanup = TERMINAL_JOB_STATES.includes(job.state);
    if (!cleanup && (err instanceof PermanentError || job.stepAttempts >= MAX_STEP_ATTEMPTS)) {
      const error = err instanceof PermanentError ? message : `${job.state} failed ${job.stepAttempts} times; last error: ${message}`;
      log.warn({ jobId: job.id, step: job.state, err: message }, 'job failed');
      await transitionJob(ctx.db, job.id, [job.state], 'failed', { error: error.slice(0, 2000) });
      await releaseJobStep(ctx.db, { jobId: job.id, runnerId, retryInSeconds: 0, resetAttempts: true });
      return;
    }
    // Cleanup of an ended job is retried for as long as it takes (storage may be down for a while).
    const retryIn = Math.min(60, 2 ** Math.min(job.stepAttempts, 6));
    log.warn(
      { jobId: job.id, step: job.state, attempt: job.stepAttempts, retryInSeconds: retryIn, err: message },
      'step failed; will retry',
    );
    await releaseJobStep(ctx.db, { jobId: job.id, runnerId, retryInSeconds: retryIn, resetAttempts: false });
  }

  const loop = (async () => {
    while (!stopped) {
      let worked = false;
      try {
        worked = await runOne();
      } catch (err) {
        log.error({ err }, 'pipeline loop error (database or storage unavailable?); retrying');
      }
      if (!worked && !stopped) {
        await Promise.race([sleep(pollMs), new Promise<void>((r) => (wake = r))]);
        wake = undefined;
      }
    }
  })();

  return {
    poke: () => wake?.(),
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
