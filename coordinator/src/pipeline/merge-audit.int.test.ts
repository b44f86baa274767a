/**
 * Accepted segments cannot be changed by anyone: an upload overwritten with
 * other bytes after its check (through the tab's still-valid presigned URL)
 * never reaches the merge and catches its author; an accepted segment whose
 * protected copy changed in storage is not merged either, and its chunk is
 * done again. The job still finishes, with correct content, and never fails
 * for it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rows } from '../db/client.js';
import { forgeSegment } from '../media/segment-forgery.js';
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
} from '../scheduler/results-fixture.js';
import { storageKeys } from '../storage/keys.js';

let world: ResultsWorld;
let source: string;

beforeAll(async () => {
  world = await openResultsWorld();
  source = path.join(world.dir, 'source.mp4');
  // Two chunks of 60 frames, one rung: two tasks.
  await makeSource(source, { seconds: 4, width: 640, height: 360, gop: 60 });
}, 120_000);
afterAll(async () => {
  await world?.close();
});
beforeEach(async () => {
  await retireAll(world);
});

/** A black segment for `params`, made from the job's first chunk. */
async function blackBytes(jobId: string, params: Parameters<typeof forgeSegment>[0]['params']): Promise<string> {
  const chunk = path.join(world.dir, `${jobId}-chunk.mkv`);
  await world.storage.getToFile(storageKeys.chunk(jobId, 0), chunk);
  const out = path.join(world.dir, `${jobId}-black.mp4`);
  await forgeSegment({ kind: 'black', chunk, params, out });
  return out;
}

async function taskStates(jobId: string): Promise<string[]> {
  const found = await rows<{ state: string }>(world.database.db, sql`SELECT state FROM tasks WHERE job_id = ${jobId} ORDER BY chunk_index`);
  return found.map((t) => t.state);
}

describe('the merge re-checks what it merges', () => {
  it('catches a worker that overwrote its upload after acceptance, merges none of it, and finishes with honest content', async () => {
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'overwriter', '10.10.0.1');
    const first = await work(world, 'overwriter', 'honest');
    const second = await work(world, 'overwriter', 'honest');
    expect([first?.result, second?.result]).toEqual([{ accepted: true }, { accepted: true }]);
    const [row] = await rows<{ state: string }>(world.database.db, sql`SELECT state FROM jobs WHERE id = ${job.id}`);
    expect(row?.state, 'every task accepted: the job waits for its merge').toBe('merging');
    // After acceptance, the tab's presigned PUT still works: it writes black frames over its upload.
    const black = await blackBytes(job.id, first!.assignment.params);
    await world.storage.putFile(first!.segmentKey, black, 'video/mp4');

    const merged = await runSteps(world, job.id);
    expect(merged.state, 'the merge stopped and sent the chunks back').toBe('transcoding');
    expect(await world.storage.stat(storageKeys.output(job.id, '240p')), 'nothing was published').toBeNull();
    expect(await trustRow(world, 'overwriter')).toMatchObject({ caught: true, quarantined: true });
    expect((await trustRow(world, 'overwriter')).caught_reason).toContain('uploaded other bytes after its segment was checked');
    expect(await taskStates(job.id)).toEqual(['queued', 'queued']);

    await addWorker(world, 'redoer', '10.10.0.2');
    expect((await work(world, 'redoer', 'honest'))?.result).toEqual({ accepted: true });
    expect((await work(world, 'redoer', 'honest'))?.result).toEqual({ accepted: true });
    const done = await runSteps(world, job.id);
    expect(done.state, done.error ?? '').toBe('done');
    const q = await outputPsnr(world, done, '240p');
    expect(q.frames).toBe(120);
    expect(q.min, 'no black frame reached the output').toBeGreaterThan(30);
  }, 180_000);

  it('leaves an upload that still holds the checked bytes alone (a deletion not landed yet is no overwrite)', async () => {
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'slow-delete', '10.11.0.1');
    const first = await work(world, 'slow-delete', 'honest');
    await work(world, 'slow-delete', 'honest');
    // Put back exactly what was checked, as if the coordinator's delete had not happened yet.
    const bytes = await world.storage.getBuffer(storageKeys.verifiedSegment(job.id, '240p', 0, 1));
    await world.storage.putBuffer(first!.segmentKey, bytes, 'video/mp4');
    const done = await runSteps(world, job.id);
    expect(done.state, done.error ?? '').toBe('done');
    expect(await trustRow(world, 'slow-delete')).toMatchObject({ caught: false });
    expect(await world.storage.stat(first!.segmentKey), 'the leftover upload is removed').toBeNull();
  }, 180_000);

  it('does not merge an accepted segment whose protected copy changed: the chunk is done again, the job does not fail', async () => {
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'honest-one', '10.12.0.1');
    const first = await work(world, 'honest-one', 'honest');
    await work(world, 'honest-one', 'honest');
    const protectedKey = storageKeys.verifiedSegment(job.id, '240p', 0, 1);
    const black = await blackBytes(job.id, first!.assignment.params);
    // Nobody's presigned URL can write this key; storage itself (or whoever holds its credentials) changed it.
    await world.storage.putBuffer(protectedKey, await readFile(black), 'video/mp4');

    const merged = await runSteps(world, job.id);
    expect(merged.state).toBe('transcoding');
    expect(merged.error).toBeNull();
    expect(await taskStates(job.id)).toEqual(['queued', 'done']);
    const [task] = await rows<{ last_error: string }>(
      world.database.db,
      sql`SELECT last_error FROM tasks WHERE job_id = ${job.id} AND chunk_index = 0`,
    );
    expect(task!.last_error).toContain('its stored copy changed after it was accepted');
    expect(await trustRow(world, 'honest-one'), 'no worker is blamed for storage').toMatchObject({
      caught: false,
      consecutive_failures: 0,
    });

    expect((await work(world, 'honest-one', 'honest'))?.result).toEqual({ accepted: true });
    const done = await runSteps(world, job.id);
    expect(done.state, done.error ?? '').toBe('done');
    expect((await outputPsnr(world, done, '240p')).min).toBeGreaterThan(30);
  }, 180_000);
});
