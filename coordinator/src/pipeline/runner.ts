/**
 * The pipeline runner: claims one job that needs server work, runs the steps
 * it needs now (steps.ts) under a renewed step lease, releases it, and looks
 * for the next. One job at a time per coordinator: split and merge are
 * ffmpeg runs that already use the machine's cores.
 *
 * It wakes when any coordinator announces a job change (notify/), and polls
 * every SAFETY_POLL_MS in case a notification was lost.
 *
 * Failures: a PermanentError (not a video, …) fails the job with its
 * message; anything else is retried with backoff, and after the step lease
 * policy's maxAttempts the job fails with the last error. Cleanup of an
 * ended job is retried for as long as it takes (storage may be down a while).
 *
 * A step that takes the coordinator down with it (out of memory, kill -9)
 * throws nothing to count, and after a restart the job is claimed again,
 * first, since it is the oldest. So the claim counts starts
 * (`step_attempts`, reset when a step finishes): a job claimed when its step
 * has already been started MAX_STEP_ATTEMPTS times without finishing fails
 * at once, saying so, instead of crashing every coordinator that takes it.
 * An ended job's best-effort quality pass is skipped then; its cleanup runs.
 */
import { backoffDelay } from '@tabgrid/shared';
import { PermanentError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import { isTerminalJobState } from '../jobs/job-states.js';
import { getJob, type JobRow, transitionJob } from '../jobs/job-table.js';
import { renewEveryMs, STEP_RETRY_BACKOFF, type StepLeasePolicy } from '../leases/policy.js';
import { claimJobStep, releaseJobStep, renewJobStep } from '../leases/step-lease.js';
import { Waker } from '../notify/index.js';
import type { PipelineContext } from './context.js';
import { STEPS, stepsFor } from './steps.js';

/** Notifications make this a fallback only: how late a lost one can make a step. */
const SAFETY_POLL_MS = 5000;

/** Seconds before a failed step is tried again. */
export const stepRetryDelaySeconds = (attempt: number): number => backoffDelay(attempt, STEP_RETRY_BACKOFF) / 1000;

export interface PipelineRunner {
  stop(): Promise<void>;
}

export function startPipelineRunner(ctx: PipelineContext, runnerId: string, policy: StepLeasePolicy): PipelineRunner {
  let stopped = false;
  const log = ctx.logger.child({ component: 'pipeline', runnerId });
  const waker = new Waker(ctx.notifier, ['job']);
  const retryTimers = new Set<NodeJS.Timeout>();

  /** Wakes this runner when a backed-off step may run again (other coordinators find it by polling). */
  function wakeIn(seconds: number): void {
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      waker.poke();
    }, seconds * 1000);
    timer.unref();
    retryTimers.add(timer);
  }

  async function runOne(): Promise<boolean> {
    const jobId = await claimJobStep(ctx.db, { runnerId, ttlSeconds: policy.ttlSeconds });
    if (!jobId) return false;
    const job = await getJob(ctx.db, jobId);
    if (!job) return true;
    // This claim is one more start; the ones before it neither finished nor threw.
    const unfinishedStarts = job.stepAttempts - 1;
    const crashLooping = unfinishedStarts >= policy.maxAttempts;
    if (crashLooping && !isTerminalJobState(job.state)) {
      await failCrashLoopingJob(job, unfinishedStarts);
      return true;
    }
    const renew = setInterval(() => {
      renewJobStep(ctx.db, { jobId, runnerId, ttlSeconds: policy.ttlSeconds }).catch((err: unknown) =>
        log.warn({ jobId, err }, 'could not renew step lease'),
      );
    }, renewEveryMs(policy.ttlSeconds));
    // The quality pass is best effort, and may be what kept stopping the coordinator: the cleanup still runs.
    const steps = crashLooping ? stepsFor(job).filter((s) => s !== 'quality') : stepsFor(job);
    try {
      for (const step of steps) {
        await failpoint(ctx.config.failpoints, `step.before-${step}`, log);
        const started = Date.now();
        await STEPS[step](ctx, job);
        log.info({ jobId: job.id, step, ms: Date.now() - started }, 'step finished');
      }
      await releaseJobStep(ctx.db, { jobId, runnerId, retryInSeconds: 0, resetAttempts: true });
    } catch (err) {
      await handleStepError(job, steps.at(-1) ?? 'none', err);
    } finally {
      clearInterval(renew);
      ctx.notifier.publish({ kind: 'job', jobId });
      // A split creates tasks; tabs everywhere should hear of them now.
      if (steps.includes('split')) ctx.notifier.publish({ kind: 'work' });
    }
    return true;
  }

  async function failCrashLoopingJob(job: JobRow, starts: number): Promise<void> {
    const step = stepsFor(job)[0] ?? job.state;
    const error =
      `the coordinator stopped while running the ${step} step ${starts} times (it crashed, was killed or lost its step lease each time), ` +
      `so it is not tried again (MAX_STEP_ATTEMPTS=${policy.maxAttempts}); the source may need more memory or time than this server allows. ` +
      'Retry the job to try once more.';
    log.error({ jobId: job.id, step, starts }, 'step never finished; job failed');
    await transitionJob(ctx.db, job.id, [job.state], 'failed', { error });
    await releaseJobStep(ctx.db, { jobId: job.id, runnerId, retryInSeconds: 0, resetAttempts: true });
    ctx.notifier.publish({ kind: 'job', jobId: job.id });
  }

  async function handleStepError(job: JobRow, step: string, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    const cleanup = isTerminalJobState(job.state);
    if (!cleanup && (err instanceof PermanentError || job.stepAttempts >= policy.maxAttempts)) {
      const error = err instanceof PermanentError ? message : `${job.state} failed ${job.stepAttempts} times; last error: ${message}`;
      log.warn({ jobId: job.id, step, err: message }, 'job failed');
      await transitionJob(ctx.db, job.id, [job.state], 'failed', { error: error.slice(0, 2000) });
      await releaseJobStep(ctx.db, { jobId: job.id, runnerId, retryInSeconds: 0, resetAttempts: true });
      return;
    }
    const retryIn = stepRetryDelaySeconds(job.stepAttempts);
    log.warn({ jobId: job.id, step, attempt: job.stepAttempts, retryInSeconds: retryIn, err: message }, 'step failed; will retry');
    await releaseJobStep(ctx.db, { jobId: job.id, runnerId, retryInSeconds: retryIn, resetAttempts: false });
    wakeIn(retryIn);
  }

  const loop = (async () => {
    while (!stopped) {
      let worked = false;
      try {
        worked = await runOne();
      } catch (err) {
        log.error({ err }, 'pipeline loop error (database or storage unavailable?); retrying');
      }
      if (!worked && !stopped) await waker.wait(SAFETY_POLL_MS);
    }
  })();

  return {
    async stop() {
      stopped = true;
      waker.close();
      for (const t of retryTimers) clearTimeout(t);
      await loop;
    },
  };
}
