/**
 * Failures are counted per address, and quarantine follows the address,
 * against a real coordinator with MAX_ATTEMPTS = 2:
 * - `fail` from identity after identity on one address never kills the
 *   task; one more address does;
 * - a worker quarantined for failing comes back as a new identity from the
 *   same address and gets nothing, while a worker from another address gets
 *   the task.
 * Backoffs are skipped by resetting `available_at` (the backoff itself is
 * the lease tests' business); each new socket's hello wakes the dispatcher.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../db/client.js';
import { seedTranscodingJob, startTestCoordinator, type TestCoordinator } from './testing/coordinator-fixture.js';
import { TabClient } from './testing/tab-client.js';

let c: TestCoordinator;
const db = () => c.database!.db;
beforeAll(async () => {
  c = await startTestCoordinator({ MAX_ATTEMPTS: '2' });
});
afterAll(async () => {
  await c?.close();
});

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const taskState = async (taskId: string) =>
  (await rows<{ state: string; attempts: number }>(db(), sql`SELECT state, attempts FROM tasks WHERE id = ${taskId}`))[0]!;
const jobState = async (jobId: string) => (await rows<{ state: string }>(db(), sql`SELECT state FROM jobs WHERE id = ${jobId}`))[0]!.state;
const skipBackoff = (taskId: string) => db().execute(sql`UPDATE tasks SET available_at = now() WHERE id = ${taskId}`);

/** Connects (with `credential`, or as a new identity), takes the assignment and fails it; returns the client, closed. */
async function takeAndFail(address: string, taskId: string, credential: string | null = null): Promise<TabClient> {
  const tab = await new TabClient(c.port, { localAddress: address }).connect();
  await tab.hello({ credential });
  const assign = (await tab.next('assign', (a) => a.rungs[0]?.leaseId === taskId)).rungs[0]!;
  tab.send({ type: 'fail', leaseId: assign.leaseId, token: assign.token, reason: `sabotage by ${tab.workerId}` });
  await until(
    'the failed task back in the queue',
    () => taskState(taskId),
    (t) => t.state !== 'leased',
  );
  tab.close();
  return tab;
}

describe('the failure budget counts addresses, not identities', () => {
  it('four identities failing from one address leave the task queued; a second address kills it', async () => {
    const { jobId, taskIds } = await seedTranscodingJob(db(), 1);
    const task = taskIds[0]!;
    const ids = new Set<string>();
    for (let i = 0; i < 4; i++) {
      ids.add((await takeAndFail('127.0.0.2', task)).workerId);
      expect(await taskState(task)).toEqual({ state: 'queued', attempts: i + 1 });
      await skipBackoff(task);
    }
    expect(ids.size).toBe(4);
    expect(await jobState(jobId)).toBe('transcoding');
    await takeAndFail('127.0.0.3', task);
    expect(await taskState(task)).toEqual({ state: 'dead', attempts: 5 });
    expect(
      await until(
        'the job failed',
        () => jobState(jobId),
        (s) => s === 'failed',
      ),
    ).toBe('failed');
  });
});

describe('quarantine follows the address', () => {
  it('a quarantined worker returning as a new identity from its address gets nothing; another address gets the task', async () => {
    const { taskIds } = await seedTranscodingJob(db(), 1);
    const task = taskIds[0]!;
    let quarantined = await takeAndFail('127.0.0.4', task);
    for (let i = 0; i < 2; i++) {
      await skipBackoff(task);
      quarantined = await takeAndFail('127.0.0.4', task, quarantined.credential!);
    }
    const [q] = await rows<{ quarantined: boolean; consecutive_failures: number }>(
      db(),
      sql`SELECT quarantined_until > now() AS quarantined, consecutive_failures FROM workers WHERE id = ${quarantined.workerId}`,
    );
    expect(q).toEqual({ quarantined: true, consecutive_failures: 3 });
    expect(await taskState(task)).toEqual({ state: 'queued', attempts: 3 });
    await skipBackoff(task);

    // The dodge: same address, no credential, so a fresh identity. It is welcomed, and given nothing.
    const dodger = await new TabClient(c.port, { localAddress: '127.0.0.4' }).connect();
    const welcome = await dodger.hello({ credential: null });
    expect(welcome.workerId).not.toBe(quarantined.workerId);
    // And the quarantined worker itself, back with its credential: nothing either.
    const returning = await new TabClient(c.port, { localAddress: '127.0.0.4' }).connect();
    await returning.hello({ credential: quarantined.credential! });
    await new Promise((r) => setTimeout(r, 1500));
    expect([...dodger.received, ...returning.received].filter((m) => m.type === 'assign')).toEqual([]);

    const honest = await new TabClient(c.port, { localAddress: '127.0.0.5' }).connect();
    await honest.hello();
    expect((await honest.next('assign')).rungs.map((r) => r.leaseId)).toEqual([task]);
    for (const t of [dodger, returning, honest]) t.close();
  });
});
