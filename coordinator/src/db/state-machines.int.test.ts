/**
 * The database enforces the job and task state machines (migrations 0005 and
 * 0006) exactly as the code's tables say: on the real PostgreSQL, every
 * (from, to) pair of states is tried as a plain UPDATE, and only the pairs in
 * JOB_TRANSITIONS / TASK_TRANSITIONS go through. Unknown states and attempt
 * outcomes are refused by CHECK constraints.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { JOB_STATES, TASK_STATES } from '@tabgrid/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTransitionJob } from '../jobs/job-states.js';
import { transitionJob } from '../jobs/job-table.js';
import { canTransitionTask } from '../tasks/task-states.js';
import type { Database } from './client.js';
import { openTestDatabase, type TestDatabase } from './test-database.js';

let database: Database;
let testDb: TestDatabase;

beforeAll(async () => {
  ({ database, test: testDb } = await openTestDatabase('tabgrid_states'));
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

/** Runs `fn` in a transaction that is always rolled back; resolves to the error it threw, or null. */
async function attempt(fn: (tx: Database['db']) => Promise<unknown>): Promise<Error | null> {
  const rollback = new Error('rollback');
  try {
    await database.db.transaction(async (tx) => {
      await fn(tx as unknown as Database['db']);
      throw rollback;
    });
  } catch (err) {
    return err === rollback ? null : (err as Error);
  }
  return null;
}

/** Seeds a job in `jobState` with one task in `taskState` (inserts skip the trigger, which only guards updates). */
async function seed(tx: Database['db'], jobState: string, taskState = 'queued'): Promise<{ jobId: string; taskId: string }> {
  const jobId = randomUUID();
  const taskId = randomUUID();
  await tx.execute(sql`INSERT INTO jobs (id, name, state, requested_renditions, source_key, source_size)
                       VALUES (${jobId}, 'x.mp4', ${jobState}, '["360p"]'::jsonb, 'k', 1)`);
  await tx.execute(sql`INSERT INTO tasks (id, job_id, chunk_index, rendition, state, params, chunk_key, chunk_size)
                       VALUES (${taskId}, ${jobId}, 0, '360p', ${taskState}, '{}'::jsonb, 'c', 1)`);
  return { jobId, taskId };
}

/** The message PostgreSQL gave, wherever drizzle put it. */
const dbMessage = (err: Error | null) => (err ? String((err.cause as Error | undefined)?.message ?? err.message) : '');

describe('the database enforces the state machines', () => {
  it('lets a job move along exactly the edges of JOB_TRANSITIONS', async () => {
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        if (from === to) continue;
        const err = await attempt(async (tx) => {
          const { jobId } = await seed(tx, from);
          await tx.execute(sql`UPDATE jobs SET state = ${to} WHERE id = ${jobId}`);
        });
        if (canTransitionJob(from, to)) expect(err, `${from} → ${to}`).toBeNull();
        else expect(dbMessage(err), `${from} → ${to}`).toContain(`jobs: illegal state transition ${from} -> ${to}`);
      }
    }
  });

  it('lets a task move along exactly the edges of TASK_TRANSITIONS', async () => {
    for (const from of TASK_STATES) {
      for (const to of TASK_STATES) {
        if (from === to) continue;
        const err = await attempt(async (tx) => {
          const { taskId } = await seed(tx, 'transcoding', from);
          await tx.execute(sql`UPDATE tasks SET state = ${to} WHERE id = ${taskId}`);
        });
        if (canTransitionTask(from, to)) expect(err, `${from} → ${to}`).toBeNull();
        else expect(dbMessage(err), `${from} → ${to}`).toContain(`tasks: illegal state transition ${from} -> ${to}`);
      }
    }
  });

  it('does not fire when the state stays (heartbeats, progress)', async () => {
    const err = await attempt(async (tx) => {
      const { taskId } = await seed(tx, 'transcoding', 'done');
      await tx.execute(sql`UPDATE tasks SET state = 'done', progress = 1, updated_at = now() WHERE id = ${taskId}`);
    });
    expect(err).toBeNull();
  });

  it('refuses states and outcomes that do not exist', async () => {
    expect(dbMessage(await attempt((tx) => seed(tx, 'paused')))).toContain('jobs_state_check');
    expect(dbMessage(await attempt((tx) => seed(tx, 'queued', 'stolen')))).toContain('tasks_state_check');
    const err = await attempt(async (tx) => {
      const { taskId } = await seed(tx, 'transcoding', 'leased');
      await tx.execute(sql`INSERT INTO task_attempts (task_id, attempt, worker_id, outcome) VALUES (${taskId}, 1, 'w', 'vanished')`);
    });
    expect(dbMessage(err)).toContain('task_attempts_outcome_check');
  });

  it('transitionJob refuses an illegal move before it reaches the database', async () => {
    const err = await attempt(async (tx) => {
      const { jobId } = await seed(tx, 'queued');
      await transitionJob(tx, jobId, ['queued'], 'done');
    });
    expect(err?.name).toBe('IllegalTransitionError');
  });
});
