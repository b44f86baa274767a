/**
 * Time spent waiting for the coordinator's check never expires an honest
 * lease or counts against the worker: a slow checker queue (one slot, each
 * check held up 2.5 s, against a 2 s lease TTL) while the reaper runs; a
 * check that cannot run (ffmpeg missing); a coordinator that died mid-check.
 */
import path from 'node:path';
import { type RungLease, rungLeases } from '@tabgrid/shared';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rows } from '../db/client.js';
import { beginVerification } from '../leases/index.js';
import { STALLED_CHECK_REASON } from '../leases/check-hold.js';
import { taskLeasePolicy } from '../leases/policy.js';
import { storageKeys } from '../storage/keys.js';
import {
  addWorker,
  makeSource,
  openResultsWorld,
  type ResultsWorld,
  retireAll,
  startJob,
  trustRow,
  upload,
  WEBCODECS,
  work,
} from './results-fixture.js';
import { TaskScheduler } from './task-scheduler.js';

let world: ResultsWorld;
let source: string;

beforeAll(async () => {
  world = await openResultsWorld({
    env: { LEASE_TTL_SECONDS: '2', TABGRID_FAILPOINTS: 'verify.before-check=2500' },
    checkSlots: 1,
  });
  source = path.join(world.dir, 'source.mp4');
  await makeSource(source, { seconds: 4, width: 640, height: 360, gop: 60 });
}, 120_000);
afterAll(async () => {
  await world?.close();
});
beforeEach(async () => {
  await retireAll(world);
});

async function attempts(jobId: string) {
  return rows<{ outcome: string | null; reason: string | null; worker_id: string }>(
    world.database.db,
    sql`SELECT a.outcome, a.reason, a.worker_id FROM task_attempts a JOIN tasks t ON t.id = a.task_id WHERE t.job_id = ${jobId} ORDER BY a.started_at`,
  );
}

describe('the coordinator holds the lease of a segment it checks', () => {
  it('does not expire honest leases queued behind a slow checker, however long the queue', async () => {
    const job = await startJob(world, source, '240p', 'webcodecs');
    // A WebCodecs job: content-only, no replicas, so each task is settled by its one check.
    await addWorker(world, 'queued-a', '10.9.0.1', WEBCODECS);
    await addWorker(world, 'queued-b', '10.9.0.2', WEBCODECS);
    let reaping = true;
    const reaper = (async () => {
      while (reaping) {
        const ended = await world.scheduler.reap();
        expect(ended, 'the reaper ends no lease while its segment waits for the check').toEqual([]);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    try {
      const started = Date.now();
      const [a, b] = await Promise.all([work(world, 'queued-a', 'honest-weak'), work(world, 'queued-b', 'honest-weak')]);
      // One slot, 2.5 s held per check: the second waited ≥ 2.5 s in the queue, longer than the 2 s TTL.
      expect(Date.now() - started).toBeGreaterThan(5000);
      expect(a?.result).toEqual({ accepted: true });
      expect(b?.result).toEqual({ accepted: true });
    } finally {
      reaping = false;
      await reaper;
    }
    expect((await attempts(job.id)).map((a) => a.outcome)).toEqual(['done', 'done']);
    for (const w of ['queued-a', 'queued-b']) expect((await trustRow(world, w)).consecutive_failures).toBe(0);
  }, 120_000);

  it('blames nobody when the check itself cannot run; the tab sends complete again later', async () => {
    const job = await startJob(world, source, '240p', 'webcodecs');
    await addWorker(world, 'unchecked', '10.9.1.1', WEBCODECS);
    const broken = new TaskScheduler({
      db: world.database.db,
      storage: world.storage,
      tools: { ffmpeg: '/nonexistent/ffmpeg', ffprobe: '/nonexistent/ffprobe' },
      config: { ...world.config, failpoints: new Map() },
      logger: pino({ level: 'silent' }),
      policy: taskLeasePolicy(world.config),
      notifier: world.notifier,
    });
    const [assignment] = rungLeases((await broken.assign('unchecked'))!) as [RungLease];
    await upload(world, assignment, 'honest');
    const key = storageKeys.segment(job.id, '240p', 0, 1);
    const { size } = (await world.storage.stat(key))!;
    const { createHash } = await import('node:crypto');
    const bytes = await world.storage.getBuffer(key);
    const msg = {
      type: 'complete' as const,
      id: 'c1',
      leaseId: assignment.leaseId,
      token: assignment.token,
      size,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    const first = await broken.complete('unchecked', msg);
    expect(first).toMatchObject({ accepted: false, retry: true });
    expect(first.reason).toContain('could not check the segment now');
    expect(await trustRow(world, 'unchecked')).toMatchObject({ caught: false, consecutive_failures: 0 });
    const [task] = await rows<{ state: string }>(world.database.db, sql`SELECT state FROM tasks WHERE id = ${assignment.leaseId}`);
    expect(task!.state, 'the tab keeps its lease').toBe('leased');
    expect(await world.scheduler.complete('unchecked', { ...msg, id: 'c2' })).toEqual({ accepted: true });
    broken.close();
  }, 120_000);

  it('requeues without blame a segment whose checking coordinator died', async () => {
    const job = await startJob(world, source, '240p', 'webcodecs');
    await addWorker(world, 'orphaned', '10.9.2.1', WEBCODECS);
    const [assignment] = rungLeases((await world.scheduler.assign('orphaned'))!) as [RungLease];
    await upload(world, assignment, 'honest');
    const policy = taskLeasePolicy(world.config);
    // What a coordinator does before its check; then it dies and nobody holds the lease.
    await beginVerification(world.database.db, { taskId: assignment.leaseId, token: assignment.token, policy });
    await world.database.db.execute(sql`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = ${assignment.leaseId}`);
    const ended = await world.scheduler.reap();
    expect(ended.map((e) => [e.task_id, e.state])).toEqual([[assignment.leaseId, 'queued']]);
    expect(await attempts(job.id)).toEqual([{ outcome: 'expired', reason: STALLED_CHECK_REASON, worker_id: 'orphaned' }]);
    expect(await trustRow(world, 'orphaned')).toMatchObject({ caught: false, consecutive_failures: 0 });
    // The next worker (the same one, here) simply does it again.
    expect((await work(world, 'orphaned', 'honest'))?.result).toEqual({ accepted: true });
  }, 120_000);
});
