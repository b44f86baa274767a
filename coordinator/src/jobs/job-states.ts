/**
 * The job state machine: every state a job can be in and every move between
 * them, in one table. `transitionJob` (job-table.ts) refuses any move not
 * listed here before it reaches the database, and migration 0006 installs
 * the same table as a trigger, so no writer (a new step, a hand-written
 * UPDATE) can put a job where this table does not lead.
 *
 *   queued ─► probing ─► splitting ─► transcoding ⇄ merging ─► done
 *     │          │           │             │            │
 *     └──────────┴───────────┴─────────────┴────────────┴─► failed | canceled
 *   failed | canceled ─► queued (retry before the probe finished) | splitting (retry after it)
 *   merging ─► transcoding: a segment was withdrawn before the merge finished (its
 *   worker was caught, or its stored copy changed): that chunk is transcoded again
 *
 * Server-side steps (pipeline/steps.ts) run in queued, probing, splitting and
 * merging; tabs work in transcoding; done, failed and canceled are terminal
 * until a retry, and each one's cleanup runs as a step of its own.
 */
import { JOB_STATES, type JobState, TERMINAL_JOB_STATES } from '@tabgrid/shared';
import { IllegalTransitionError } from '../errors.js';

export const JOB_TRANSITIONS: { readonly [From in JobState]: readonly JobState[] } = {
  queued: ['probing', 'failed', 'canceled'],
  probing: ['splitting', 'failed', 'canceled'],
  splitting: ['transcoding', 'failed', 'canceled'],
  transcoding: ['merging', 'failed', 'canceled'],
  merging: ['transcoding', 'done', 'failed', 'canceled'],
  done: [],
  failed: ['queued', 'splitting'],
  canceled: ['queued', 'splitting'],
};

/** States in which the coordinator itself has a step to run (pipeline/steps.ts); transcoding is the tabs' work. */
export const SERVER_STEP_STATES: readonly JobState[] = ['queued', 'probing', 'splitting', 'merging'];

/** States a job is still being worked on in; cancel applies to these. */
export const UNFINISHED_JOB_STATES: readonly JobState[] = JOB_STATES.filter((s) => !TERMINAL_JOB_STATES.includes(s));

export const isTerminalJobState = (s: JobState): boolean => TERMINAL_JOB_STATES.includes(s);

export function canTransitionJob(from: JobState, to: JobState): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

/** Throws IllegalTransitionError unless every state in `from` may move to `to`. */
export function assertJobTransition(from: readonly JobState[], to: JobState): void {
  const illegal = from.filter((f) => !canTransitionJob(f, to));
  if (from.length === 0 || illegal.length > 0) throw new IllegalTransitionError('job', illegal.length > 0 ? illegal : from, to);
}

/** Every legal (from, to) pair; the migration's trigger holds the same list (checked by job-states.int.test.ts). */
export function jobTransitionPairs(): [JobState, JobState][] {
  return JOB_STATES.flatMap((from) => JOB_TRANSITIONS[from].map((to): [JobState, JobState] => [from, to]));
}
