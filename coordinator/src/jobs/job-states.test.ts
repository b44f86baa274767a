import { JOB_STATES, TERMINAL_JOB_STATES } from '@tabgrid/shared';
import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../errors.js';
import { TASK_STATES } from '@tabgrid/shared';
import { canTransitionTask, TASK_TRANSITIONS } from '../tasks/task-states.js';
import { assertJobTransition, canTransitionJob, JOB_TRANSITIONS, SERVER_STEP_STATES, UNFINISHED_JOB_STATES } from './job-states.js';

/** States reachable from `start` by following the table. */
function reachable<S extends string>(table: { readonly [K in S]: readonly S[] }, start: S): Set<S> {
  const seen = new Set<S>([start]);
  const queue = [start];
  while (queue.length > 0) {
    for (const next of table[queue.shift()!]) {
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(next);
    }
  }
  return seen;
}

describe('the job state machine', () => {
  it('has a row for every state and names only known states', () => {
    expect(Object.keys(JOB_TRANSITIONS).sort()).toEqual([...JOB_STATES].sort());
    for (const to of Object.values(JOB_TRANSITIONS).flat()) expect(JOB_STATES).toContain(to);
  });

  it('reaches every state from queued, and done from every unfinished state', () => {
    expect([...reachable(JOB_TRANSITIONS, 'queued')].sort()).toEqual([...JOB_STATES].sort());
    for (const s of UNFINISHED_JOB_STATES) expect(reachable(JOB_TRANSITIONS, s).has('done')).toBe(true);
  });

  it('lets every unfinished job fail or be canceled, and nothing leave done', () => {
    for (const s of UNFINISHED_JOB_STATES) {
      expect(canTransitionJob(s, 'failed')).toBe(true);
      expect(canTransitionJob(s, 'canceled')).toBe(true);
    }
    expect(JOB_TRANSITIONS.done).toEqual([]);
    expect(UNFINISHED_JOB_STATES).toEqual(JOB_STATES.filter((s) => !TERMINAL_JOB_STATES.includes(s)));
  });

  it('retries failed and canceled jobs from the start or from the split, never straight into transcoding', () => {
    for (const s of ['failed', 'canceled'] as const) expect([...JOB_TRANSITIONS[s]].sort()).toEqual(['queued', 'splitting']);
    expect(canTransitionJob('failed', 'transcoding')).toBe(false);
  });

  it('moves the pipeline forward one state at a time', () => {
    const forward = ['queued', 'probing', 'splitting', 'transcoding', 'merging', 'done'] as const;
    // The one step back: a segment withdrawn while its job merges (its worker was caught, or its stored copy changed).
    const back = (from: string, to: string) => from === 'merging' && to === 'transcoding';
    for (const [i, from] of forward.entries()) {
      for (const [j, to] of forward.entries()) expect(canTransitionJob(from, to), `${from} → ${to}`).toBe(j === i + 1 || back(from, to));
    }
  });

  it('refuses an illegal move, naming it, and accepts a list of legal ones', () => {
    expect(() => assertJobTransition(['queued'], 'transcoding')).toThrow(IllegalTransitionError);
    expect(() => assertJobTransition(['queued'], 'transcoding')).toThrow('job: no transition from queued to transcoding');
    expect(() => assertJobTransition(['transcoding', 'done'], 'failed')).toThrow('from done to failed');
    expect(() => assertJobTransition([], 'failed')).toThrow(IllegalTransitionError);
    expect(() => assertJobTransition(UNFINISHED_JOB_STATES, 'canceled')).not.toThrow();
  });

  it('gives the coordinator a step in every unfinished state but transcoding', () => {
    expect([...SERVER_STEP_STATES].sort()).toEqual(UNFINISHED_JOB_STATES.filter((s) => s !== 'transcoding').sort());
  });
});

describe('the task state machine', () => {
  it('has a row for every state, and done is final unless its result is withdrawn', () => {
    expect(Object.keys(TASK_TRANSITIONS).sort()).toEqual([...TASK_STATES].sort());
    // Only a withdrawal (the worker was caught, the stored copy changed) reopens a done task, and only into the queue.
    expect(TASK_TRANSITIONS.done).toEqual(['queued']);
  });

  it('reaches done from every state but done itself (a retry requeues dead and canceled tasks)', () => {
    for (const s of TASK_STATES) expect(reachable(TASK_TRANSITIONS, s).has('done'), s).toBe(true);
  });

  it('leases a task from the queue (or back to its tab when a check could not run), and accepts a segment only after its check', () => {
    expect(TASK_STATES.filter((s) => canTransitionTask(s, 'leased')).sort()).toEqual(['queued', 'verifying']);
    // From verifying once checked, or from the queue for a checked result that waited for a replica in vain.
    expect(TASK_STATES.filter((s) => canTransitionTask(s, 'done')).sort()).toEqual(['queued', 'verifying']);
  });
});
