/**
 * The task (chunk × rendition) state machine: one table of legal moves. The
 * lease statements in leases/ and the task statements in task-table.ts are
 * the only writers, each one a move listed here; migration 0006 installs the
 * same table as a trigger on `tasks`, so a statement that tried any other
 * move fails in the database (checked by task-states.int.test.ts).
 *
 *   queued ──claim──► leased ──complete──► verifying ──accept──► done
 *     ▲                 │  ▲                  │   │
 *     │                 │  └────undo check────┘   │
 *     └──fail/expire/release (attempts left)──────┤
 *     └──submitted: wait for a replica ───────────┤
 *   dead ◄──fail/expire/release (MAX_ATTEMPTS)────┘
 *   queued ──no replica to be had: accept on content──► done
 *   done ──withdrawn (its worker caught, its stored copy changed)──► queued
 *   queued | leased | verifying ──cancel──► canceled
 *   dead | canceled ──retry──► queued
 */
import { TASK_STATES, type TaskState } from '@tabgrid/shared';

export const TASK_TRANSITIONS: { readonly [From in TaskState]: readonly TaskState[] } = {
  queued: ['leased', 'done', 'canceled'],
  leased: ['verifying', 'queued', 'dead', 'canceled'],
  verifying: ['leased', 'done', 'queued', 'dead', 'canceled'],
  done: ['queued'],
  dead: ['queued'],
  canceled: ['queued'],
};

export const canTransitionTask = (from: TaskState, to: TaskState): boolean => TASK_TRANSITIONS[from].includes(to);

/** Every legal (from, to) pair; the migration's trigger holds the same list. */
export function taskTransitionPairs(): [TaskState, TaskState][] {
  return TASK_STATES.flatMap((from) => TASK_TRANSITIONS[from].map((to): [TaskState, TaskState] => [from, to]));
}
