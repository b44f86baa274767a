/**
 * Every kind of bad segment a worker can upload is refused before it counts,
 * with a reason naming what is wrong; the liar is caught and quarantined;
 * and the job still finishes with correct content from honest work. Real
 * ffmpeg, the real PostgreSQL, storage on the embedded s3rver in-process.
 * One worker per job here, so nothing is replicated (no replicator):
 * replication has its own file (replication.int.test.ts).
 */
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rows } from '../db/client.js';
import type { JobRow } from '../jobs/job-table.js';
import type { Forgery } from '../media/segment-forgery.js';
import {
  addWorker,
  makeSource,
  openResultsWorld,
  outputPsnr,
  type ResultsWorld,
  retireAll,
  runSteps,
  startJob,
  trustRow,
  work,
} from './results-fixture.js';

let world: ResultsWorld;
let source: string;

beforeAll(async () => {
  world = await openResultsWorld();
  source = path.join(world.dir, 'source.mp4');
  // 4 s at 30 fps, a keyframe every 2 s: two chunks of 60 frames, two rungs (360p, 240p) → 4 tasks.
  await makeSource(source, { seconds: 4, width: 640, height: 360, gop: 60 });
}, 120_000);
afterAll(async () => {
  await world?.close();
});
beforeEach(async () => {
  await retireAll(world);
});

/** The honest worker finishes every task left, then the merge runs; the outputs must be the chunks' pictures. */
async function finishHonestly(job: JobRow, worker: string): Promise<JobRow> {
  for (let i = 0; i < 12; i++) {
    // Backoffs after a rejection: let the task be claimed now.
    await world.database.db.execute(sql`UPDATE tasks SET available_at = now() WHERE job_id = ${job.id} AND state = 'queued'`);
    const done = await work(world, worker, 'honest');
    if (!done) break;
    expect(done.result, 'an honest segment is accepted').toMatchObject({ accepted: true });
  }
  let state = await runSteps(world, job.id);
  for (let i = 0; i < 3 && state.state !== 'done'; i++) state = await runSteps(world, job.id);
  expect(state.state, state.error ?? '').toBe('done');
  for (const rung of ['360p', '240p'] as const) {
    const q = await outputPsnr(world, state, rung);
    expect(q.frames).toBe(120);
    // Honest x264 on testsrc2 at these rungs: ≥ 35 dB worst frame; one black or foreign chunk would drop it below 12 dB.
    expect(q.min, `${rung} worst frame PSNR`).toBeGreaterThan(30);
  }
  return state;
}

describe('the content check', () => {
  it('accepts an honest segment on the content check alone when nobody could replicate it', async () => {
    const job = await startJob(world, source);
    await addWorker(world, 'honest-solo', '10.0.0.1');
    const done = await work(world, 'honest-solo', 'honest');
    expect(done?.result).toEqual({ accepted: true });
    const [result] = await rows<{ verdict: string; min_psnr: number; reason: string }>(
      world.database.db,
      sql`SELECT r.verdict, r.min_psnr, r.reason FROM task_results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ${job.id}`,
    );
    expect(result).toMatchObject({ verdict: 'accepted' });
    expect(result!.reason).toContain('no independent replicator is connected');
    expect(result!.min_psnr).toBeGreaterThan(30);
    // The tab's own upload is gone; the checked bytes live under the protected key.
    expect(await world.storage.stat(done!.segmentKey)).toBeNull();
    const [task] = await rows<{ segment_key: string }>(
      world.database.db,
      sql`SELECT segment_key FROM tasks WHERE id = ${done!.assignment.leaseId}`,
    );
    expect(task!.segment_key).toContain('/segments/verified/');
    await finishHonestly(job, 'honest-solo');
  }, 120_000);

  // `format`: no honest encoder makes it, whatever the content: caught at once. `content`: caught once
  // another worker's segment of the same chunk passes (the content was checkable).
  const attacks: { kind: Forgery; reason: RegExp; caughtAtOnce: boolean }[] = [
    {
      kind: 'black',
      reason: /frame \d+ of 60 does not show the chunk: (SSIM [\d.]+|PSNR [\d.]+ dB) is below (240|360)p's threshold/,
      caughtAtOnce: false,
    },
    {
      kind: 'tampered',
      reason: /frame \d+ of 60 differs from the chunk in part of the picture: its worst tile's PSNR [\d.]+ dB/,
      caughtAtOnce: false,
    },
    { kind: 'tampered-small', reason: /frame \d+ of 60 differs from the chunk in part of the picture/, caughtAtOnce: false },
    { kind: 'other-clip', reason: /frame \d+ of 60 does not show the chunk/, caughtAtOnce: false },
    { kind: 'shifted', reason: /frame \d+ of 60 differs from the chunk in part of the picture|shifted by one/, caughtAtOnce: false },
    { kind: 'wrong-rung', reason: /segment is (214x120|320x180), expected (426x240|640x360)/, caughtAtOnce: true },
    { kind: 'undecodable', reason: /segment (has decode errors|is not a readable video|has \d+ frames)/, caughtAtOnce: true },
  ];
  for (const [i, { kind, reason, caughtAtOnce }] of attacks.entries()) {
    it(`refuses a ${kind} segment, catches its worker and still finishes the job with honest content`, async () => {
      const job = await startJob(world, source);
      const liar = `liar-${kind}`;
      const honest = `honest-after-${kind}`;
      // Each liar at an address of its own: quarantine follows the address, so a new
      // identity next to an earlier, caught liar would get no work at all.
      await addWorker(world, liar, `10.0.1.${i + 1}`);
      const lie = await work(world, liar, kind);
      expect(lie?.result.accepted, 'the bad segment is refused').toBe(false);
      expect(lie?.result.reason).toMatch(reason);
      const [attempt] = await rows<{ outcome: string; reason: string }>(
        world.database.db,
        sql`SELECT outcome, reason FROM task_attempts WHERE task_id = ${lie!.assignment.leaseId} AND attempt = 1`,
      );
      expect(attempt).toMatchObject({ outcome: 'rejected' });
      expect(attempt!.reason).toMatch(reason);
      const first = await trustRow(world, liar);
      expect(
        first.caught,
        caughtAtOnce ? 'a malformed segment catches its worker at once' : 'not caught before the chunk is shown checkable',
      ).toBe(caughtAtOnce);
      if (!caughtAtOnce) expect(first.consecutive_failures, 'an ordinary failure meanwhile').toBe(1);

      await addWorker(world, honest, '10.0.2.1');
      await finishHonestly(job, honest);
      const after = await trustRow(world, liar);
      expect(after.caught, 'the liar is caught').toBe(true);
      expect(after.quarantined, 'and quarantined for a long while').toBe(true);
      expect(after.caught_reason).toMatch(reason);
      expect(await world.scheduler.assign(liar), 'a quarantined liar gets no work').toBeNull();
    }, 120_000);
  }

  it('fails a job no encoder can carry at its rung, naming the frame and score, and catches nobody for it', async () => {
    // Random 2-pixel cells changing every frame, at 240p's 400 kbit/s: honest encodes score like black frames (docs/facts.md).
    const cells = path.join(world.dir, 'cells.mp4');
    await makeSource(cells, {
      seconds: 2,
      width: 640,
      height: 360,
      gop: 60,
      lavfi: 'life=size=320x180:mold=10:ratio=0.3:life_color=white:death_color=black:rate=30',
      vf: 'scale=640:360:flags=neighbor',
    });
    const job = await startJob(world, cells, '240p');
    const honest = Array.from({ length: world.config.maxAttempts }, (_, i) => `cells-${i}`);
    for (const [i, worker] of honest.entries()) {
      await addWorker(world, worker, `10.20.0.${i}`);
      await world.database.db.execute(sql`UPDATE tasks SET available_at = now() WHERE job_id = ${job.id}`);
      const done = await work(world, worker, 'honest');
      expect(done?.result.accepted, `${worker}'s honest segment cannot pass`).toBe(false);
    }
    const [failed] = await rows<{ state: string; error: string }>(
      world.database.db,
      sql`SELECT state, error FROM jobs WHERE id = ${job.id}`,
    );
    expect(failed!.state).toBe('failed');
    expect(failed!.error).toMatch(
      /chunk 0 \(240p\) failed 5 times; last reasons, newest first: segment rejected: frame \d+ of 60 (does not show|differs)/,
    );
    for (const worker of honest) expect((await trustRow(world, worker)).caught, `${worker} is not caught for the content`).toBe(false);
  }, 120_000);
});
