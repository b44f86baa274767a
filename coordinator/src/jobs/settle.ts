/**
 * settleTranscoding(q, jobId) → 'merging' | 'failed' | null
 *
 * After a task settles: a job with a dead task fails, naming the chunk, the
 * rendition and the last reasons; a job whose tasks are all done goes on to
 * merging. null when the job stays as it is (or another caller moved it first).
 */
import type { Queryable } from '../db/client.js';
import { everyTaskDone, firstDeadTask } from '../tasks/task-table.js';
import { transitionJob } from './job-table.js';

export async function settleTranscoding(q: Queryable, jobId: string): Promise<'merging' | 'failed' | null> {
  const dead = await firstDeadTask(q, jobId);
  if (dead) {
    const error = `chunk ${dead.chunk_index} (${dead.rendition}) failed ${dead.attempts} times; last reasons, newest first: ${dead.reasons ?? 'unknown'}`;
    return (await transitionJob(q, jobId, ['transcoding'], 'failed', { error })) ? 'failed' : null;
  }
  return (await transitionJob(q, jobId, ['transcoding'], 'merging', {}, everyTaskDone)) ? 'merging' : null;
}
