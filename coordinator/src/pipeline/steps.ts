/**
 * The server-side steps of a job, by name, and which ones a job needs now.
 * The pipeline runner (runner.ts) claims a job, asks `stepsFor` what to run,
 * and runs those steps in order under one step lease.
 *
 *   job state        steps
 *   queued           start     queued → probing
 *   probing          probe     probing → splitting   (probe-step.ts)
 *   splitting        split     splitting → transcoding, tasks created (split-step.ts)
 *   transcoding      —         tabs work; settleTranscoding moves it on
 *   merging          merge     merging → done        (merge-step.ts)
 *   done             quality, then cleanup  (while needs_cleanup)
 *   failed/canceled  cleanup   (while needs_cleanup)
 *
 * Every step is re-runnable from its start: a coordinator that dies mid-step
 * leaves the job in the same state, and the next runner runs it again.
 */
import type { JobState } from '@tabgrid/shared';
import { isTerminalJobState } from '../jobs/job-states.js';
import { type JobRow, transitionJob } from '../jobs/job-table.js';
import { runCleanupStep } from './cleanup-step.js';
import type { PipelineContext } from './context.js';
import { runMergeStep } from './merge-step.js';
import { runProbeStep } from './probe-step.js';
import { runQualityStep } from './quality-step.js';
import { runSplitStep } from './split-step.js';

export type StepName = 'start' | 'probe' | 'split' | 'merge' | 'quality' | 'cleanup';

export const STEPS: { readonly [Name in StepName]: (ctx: PipelineContext, job: JobRow) => Promise<void> } = {
  start: async (ctx, job) => {
    await transitionJob(ctx.db, job.id, ['queued'], 'probing');
  },
  probe: runProbeStep,
  split: runSplitStep,
  merge: runMergeStep,
  // Best effort: it logs its own failure and leaves `quality` null; the job stays done.
  quality: runQualityStep,
  cleanup: runCleanupStep,
};

/** One step per state in SERVER_STEP_STATES (job-states.ts), which the step-lease claim looks for. */
export const STEP_OF_STATE: Partial<Record<JobState, StepName>> = {
  queued: 'start',
  probing: 'probe',
  splitting: 'split',
  merging: 'merge',
};

/** The steps `job` needs now, in order; empty when tabs (or nobody) have its work. */
export function stepsFor(job: Pick<JobRow, 'state' | 'needsCleanup' | 'quality' | 'outputs'>): StepName[] {
  if (isTerminalJobState(job.state)) {
    if (!job.needsCleanup) return [];
    // The quality pass needs the chunks the cleanup deletes, so it goes first.
    const measure = job.state === 'done' && !job.quality && job.outputs.length > 0;
    return measure ? ['quality', 'cleanup'] : ['cleanup'];
  }
  const step = STEP_OF_STATE[job.state];
  return step ? [step] : [];
}
