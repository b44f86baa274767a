/**
 * Replication by reputation on the real PostgreSQL, with real segments:
 * a new worker's result waits for an independent replica (another worker,
 * another address, the same deterministic encoder), replicas that agree
 * settle the task, disagreement gets a tie-breaker and the outvoted worker
 * is caught, a trusted worker is sampled, a caught worker's earlier results
 * are redone, and a replica that will not come does not hold a job forever.
 * Native x264 with one thread stands in for the single-thread wasm core:
 * both are byte-identical run to run on one machine.
 */
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rows } from '../db/client.js';
import { claimTasks } from '../leases/index.js';
import { taskLeasePolicy } from '../leases/policy.js';
import type { Capabilities } from '@tabgrid/shared';
import { deterministicConfig, deterministicConfigSql, WASM_X264_SINGLE_THREAD } from '../workers/encoder-config.js';
import { encoderCensus } from '../workers/worker-table.js';
import {
  addWorker,
  makeSource,
  NATIVE,
  openResultsWorld,
  type ResultsWorld,
  retireAll,
  runSteps,
  startJob,
  trustRow,
  WEBCODECS,
  work,
} from './results-fixture.js';

let world: ResultsWorld;
let source: string;
/** The sampling coin; each test sets what it needs. */
let coin = 0.99;

beforeAll(async () => {
  world = await openResultsWorld({ random: () => coin });
  source = path.join(world.dir, 'source.mp4');
  // 2 s: one chunk of 60 frames; one rung (240p) → a single task per job.
  await makeSource(source, { seconds: 2, width: 640, height: 360, gop: 60 });
}, 120_000);
afterAll(async () => {
  await world?.close();
});
beforeEach(async () => {
  coin = 0.99;
  await retireAll(world);
});

async function results(jobId: string) {
  return rows<{ attempt: number; worker_id: string; verdict: string; reason: string | null; encoder_config: string | null }>(
    world.database.db,
    sql`SELECT r.attempt, r.worker_id, r.verdict, r.reason, r.encoder_config FROM task_results r JOIN tasks t ON t.id = r.task_id
         WHERE t.job_id = ${jobId} ORDER BY r.attempt, r.created_at`,
  );
}

async function taskOf(jobId: string) {
  const [t] = await rows<{ state: string; replica_config: string | null; attempts: number; retry_base: number }>(
    world.database.db,
    sql`SELECT state, replica_config, attempts, retry_base FROM tasks WHERE job_id = ${jobId}`,
  );
  return t!;
}

describe('replication by reputation', () => {
  it('has a new worker’s result confirmed by an independent replica; agreeing replicas settle the task', async () => {
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'rep-a', '10.1.0.1');
    await addWorker(world, 'rep-b', '10.1.0.2');
    const first = await work(world, 'rep-a', 'honest');
    expect(first?.result).toMatchObject({ accepted: true, reason: expect.stringContaining('another volunteer') });
    expect(await taskOf(job.id)).toMatchObject({ state: 'queued', replica_config: WASM_X264_SINGLE_THREAD, attempts: 1, retry_base: 1 });
    // The worker that answered cannot confirm itself, and a replay of its completion is told yes without a second count.
    expect(await world.scheduler.assign('rep-a')).toBeNull();
    const replay = await world.scheduler.complete('rep-a', {
      type: 'complete',
      id: 'again',
      leaseId: first!.assignment.leaseId,
      token: first!.assignment.token,
      size: (await world.storage.stat(`videos/${job.id}/segments/verified/240p/chunk_0000.a1.mp4`))!.size,
      sha256: first!.sha256,
    });
    expect(replay).toEqual({ accepted: true });

    const second = await work(world, 'rep-b', 'honest');
    expect(second?.result).toEqual({ accepted: true });
    expect(await taskOf(job.id)).toMatchObject({ state: 'done', replica_config: null });
    expect((await results(job.id)).map((r) => [r.worker_id, r.verdict])).toEqual([
      ['rep-a', 'confirmed'],
      ['rep-b', 'confirmed'],
    ]);
    expect((await trustRow(world, 'rep-a')).confirmed_results).toBe(1);
    expect((await trustRow(world, 'rep-b')).confirmed_results).toBe(1);
    expect((await runSteps(world, job.id)).state).toBe('done');
  }, 120_000);

  it('never takes a replica from the same worker, the same address or another encoder configuration', async () => {
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'ex-a', '10.2.0.1');
    await addWorker(world, 'ex-same-address', '10.2.0.1');
    await addWorker(world, 'ex-webcodecs', '10.2.0.3', WEBCODECS);
    await addWorker(world, 'ex-b', '10.2.0.4');
    expect((await work(world, 'ex-a', 'honest'))?.result.accepted).toBe(true);
    const policy = taskLeasePolicy(world.config);
    for (const worker of ['ex-a', 'ex-same-address', 'ex-webcodecs']) {
      expect(await claimTasks(world.database.db, { workerId: worker, limit: 5, policy }), worker).toEqual([]);
    }
    expect((await work(world, 'ex-b', 'honest'))?.result).toEqual({ accepted: true });
    expect((await taskOf(job.id)).state).toBe('done');
  }, 120_000);

  it('breaks a disagreement with a third replica and catches the outvoted worker', async () => {
    const job = await startJob(world, source, '240p');
    for (const [id, address] of [
      ['tie-liar', '10.3.0.1'],
      ['tie-b', '10.3.0.2'],
      ['tie-c', '10.3.0.3'],
    ] as const) {
      await addWorker(world, id, address);
    }
    // A different encode passes the content check; only its decoded frames give it away.
    const lie = await work(world, 'tie-liar', 'different-encode');
    expect(lie?.result.accepted).toBe(true);
    expect((await work(world, 'tie-b', 'honest'))?.result.accepted).toBe(true);
    expect(await taskOf(job.id)).toMatchObject({ state: 'queued', replica_config: WASM_X264_SINGLE_THREAD });
    expect((await results(job.id)).map((r) => r.verdict)).toEqual(['pending', 'pending']);
    expect((await work(world, 'tie-c', 'honest'))?.result).toEqual({ accepted: true });
    const decided = await results(job.id);
    expect(decided.map((r) => [r.worker_id, r.verdict])).toEqual([
      ['tie-liar', 'outvoted'],
      ['tie-b', 'confirmed'],
      ['tie-c', 'confirmed'],
    ]);
    expect(decided[0]!.reason).toMatch(/decoded frame \d+ differs from two independent replicas/);
    const liar = await trustRow(world, 'tie-liar');
    expect(liar).toMatchObject({ caught: true, quarantined: true, confirmed_results: 0 });
    expect(liar.caught_reason).toContain('outvoted');
    expect((await taskOf(job.id)).state).toBe('done');
    expect((await runSteps(world, job.id)).state).toBe('done');
  }, 120_000);

  it('samples a trusted worker’s results at the configured rate, and takes the rest on the content check alone', async () => {
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'trusted', '10.4.0.1');
    await addWorker(world, 'checker', '10.4.0.2');
    await world.database.db.execute(sql`UPDATE workers SET confirmed_results = 10 WHERE id = 'trusted'`);
    coin = 0.05; // below REPLICA_SAMPLE_RATE (0.1): sampled
    expect((await work(world, 'trusted', 'honest'))?.result.reason).toContain('another volunteer');
    expect((await results(job.id))[0]!.reason).toBe('trusted worker, sampled for a replica');
    expect((await work(world, 'checker', 'honest'))?.result).toEqual({ accepted: true });
    expect((await trustRow(world, 'trusted')).confirmed_results).toBe(11);

    const next = await startJob(world, source, '240p');
    coin = 0.5; // not sampled
    expect((await work(world, 'trusted', 'honest'))?.result).toEqual({ accepted: true });
    expect((await results(next.id)).map((r) => [r.verdict, r.reason])).toEqual([['accepted', 'trusted worker, not sampled']]);
  }, 120_000);

  it('checks a non-deterministic encoder by content only', async () => {
    const job = await startJob(world, source, '240p', 'webcodecs');
    await addWorker(world, 'webcodecs', '10.5.0.1', WEBCODECS);
    await addWorker(world, 'wasm', '10.5.0.2');
    expect((await work(world, 'webcodecs', 'honest-weak'))?.result).toEqual({ accepted: true });
    expect((await results(job.id)).map((r) => [r.verdict, r.encoder_config, r.reason])).toEqual([
      ['accepted', null, 'non-deterministic encoder: checked by content only'],
    ]);
  }, 120_000);

  it('never compares a native worker’s result with wasm replicas: content only, whoever else is connected', async () => {
    // Native x264 uses its SIMD kernels: its decoded frames differ from the wasm core's (docs/facts.md), so a
    // hash comparison would outvote an honest native worker, or an honest wasm one.
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'native', '10.9.0.1', NATIVE);
    await addWorker(world, 'wasm-a', '10.9.0.2');
    await addWorker(world, 'wasm-b', '10.9.0.3');
    expect((await work(world, 'native', 'honest'))?.result).toEqual({ accepted: true });
    expect(await taskOf(job.id)).toMatchObject({ state: 'done', replica_config: null });
    expect((await results(job.id)).map((r) => [r.worker_id, r.verdict, r.encoder_config, r.reason])).toEqual([
      ['native', 'accepted', null, 'non-deterministic encoder: checked by content only'],
    ]);

    // A wasm result waiting for its replica is not the native worker's to confirm (nor to settle: it gets no such task).
    const next = await startJob(world, source, '240p');
    expect((await work(world, 'wasm-a', 'honest'))?.result.accepted).toBe(true);
    expect(await taskOf(next.id)).toMatchObject({ state: 'queued', replica_config: WASM_X264_SINGLE_THREAD });
    expect(await claimTasks(world.database.db, { workerId: 'native', limit: 5, policy: taskLeasePolicy(world.config) })).toEqual([]);
    expect((await work(world, 'wasm-b', 'honest'))?.result).toEqual({ accepted: true });
    expect((await results(next.id)).map((r) => [r.worker_id, r.verdict])).toEqual([
      ['wasm-a', 'confirmed'],
      ['wasm-b', 'confirmed'],
    ]);
    expect((await trustRow(world, 'native')).confirmed_results).toBe(0);
  }, 120_000);

  it('checks a WebCodecs task by content only, even from a tab whose x264 results are replicated', async () => {
    // Both tabs list the deterministic wasm core first: their x264 results would wait for a replica.
    const both: Capabilities = { encoders: ['wasm-x264', 'webcodecs-h264'], threads: 1, wasmMultiThread: false };
    expect(deterministicConfig(both)).toBe(WASM_X264_SINGLE_THREAD);
    expect(deterministicConfig(both, 'webcodecs')).toBeNull();
    const job = await startJob(world, source, '240p', 'webcodecs');
    await addWorker(world, 'both-a', '10.5.1.1', both);
    await addWorker(world, 'both-b', '10.5.1.2', both);
    expect((await work(world, 'both-a', 'honest-weak'))?.result).toEqual({ accepted: true });
    expect((await results(job.id)).map((r) => [r.verdict, r.encoder_config])).toEqual([['accepted', null]]);
    expect((await taskOf(job.id)).replica_config).toBeNull();
  }, 120_000);

  it('leases a task only to a worker that reported its encoder', async () => {
    const webcodecsJob = await startJob(world, source, '240p', 'webcodecs');
    await addWorker(world, 'x264-only', '10.5.2.1');
    await addWorker(world, 'webcodecs-only', '10.5.2.2', WEBCODECS);
    expect(await claimTasks(world.database.db, { workerId: 'x264-only', limit: 5, policy: taskLeasePolicy(world.config) })).toEqual([]);
    const [wc] = await claimTasks(world.database.db, { workerId: 'webcodecs-only', limit: 5, policy: taskLeasePolicy(world.config) });
    expect(wc).toMatchObject({ job_id: webcodecsJob.id, params: { encoder: 'webcodecs' } });
    expect(wc!.params.bitrateKbps).toBeGreaterThan(0);
    const x264Job = await startJob(world, source, '240p', 'x264');
    expect(await claimTasks(world.database.db, { workerId: 'webcodecs-only', limit: 5, policy: taskLeasePolicy(world.config) })).toEqual(
      [],
    );
    const [x] = await claimTasks(world.database.db, { workerId: 'x264-only', limit: 5, policy: taskLeasePolicy(world.config) });
    expect(x).toMatchObject({ job_id: x264Job.id, params: { encoder: 'x264' } });
  }, 120_000);

  it('resolves auto from the connected workers at the split, and refuses an unknown encoder at upload', async () => {
    const pinned = async (jobId: string) =>
      (await rows<{ encoder: string }>(world.database.db, sql`SELECT DISTINCT encoder FROM tasks WHERE job_id = ${jobId}`)).map(
        (r) => r.encoder,
      );
    await addWorker(world, 'auto-x264', '10.5.3.1');
    await addWorker(world, 'auto-x264-b', '10.5.3.2');
    await addWorker(world, 'auto-wc', '10.5.3.3', WEBCODECS);
    expect(await encoderCensus(world.database.db)).toEqual({ webcodecs: 1, total: 3 });
    expect(await pinned((await startJob(world, source, '360p,240p', 'auto')).id)).toEqual(['x264']);
    await addWorker(world, 'auto-wc-b', '10.5.3.4', WEBCODECS);
    const job = await startJob(world, source, '360p,240p', 'auto');
    expect(await pinned(job.id)).toEqual(['webcodecs']);
    expect(job.encoder).toBe('auto');
    await expect(startJob(world, source, '240p', 'h265')).rejects.toThrow(/encoder: must be one of x264, webcodecs, auto/);
  }, 120_000);

  it('redoes the accepted results of a worker caught later, in jobs not finished yet', async () => {
    // Alone on the grid, the liar's honest-looking first result is accepted on the content check alone.
    const job = await startJob(world, source, '360p,240p');
    await addWorker(world, 'sleeper', '10.6.0.1');
    expect((await work(world, 'sleeper', 'honest'))?.result).toEqual({ accepted: true });
    const states = async () =>
      (await rows<{ state: string }>(world.database.db, sql`SELECT state FROM tasks WHERE job_id = ${job.id} ORDER BY rendition`)).map(
        (t) => t.state,
      );
    expect((await states()).sort()).toEqual(['done', 'queued']);
    // Then it lies: refused, and caught as soon as an honest segment of the same chunk passes.
    expect((await work(world, 'sleeper', 'black'))?.result.accepted).toBe(false);
    expect((await trustRow(world, 'sleeper')).caught).toBe(false);
    await addWorker(world, 'redoer', '10.6.0.2');
    await world.database.db.execute(sql`UPDATE tasks SET available_at = now() WHERE job_id = ${job.id}`);
    expect((await work(world, 'redoer', 'honest'))?.result).toEqual({ accepted: true });
    expect(await trustRow(world, 'sleeper')).toMatchObject({ caught: true, quarantined: true });
    // Its accepted result went back to the queue: nobody vouched for it.
    const after = await rows<{ state: string; last_error: string | null }>(
      world.database.db,
      sql`SELECT state, last_error FROM tasks WHERE job_id = ${job.id} ORDER BY rendition`,
    );
    expect(after.map((t) => t.state).sort()).toEqual(['done', 'queued']);
    expect(after.find((t) => t.state === 'queued')!.last_error).toMatch(/^redone: its worker sleeper was caught/);
    expect((await results(job.id)).map((r) => [r.worker_id, r.verdict])).toEqual([
      ['sleeper', 'withdrawn'],
      ['sleeper', 'outvoted'],
      ['redoer', 'accepted'],
    ]);
    expect((await work(world, 'redoer', 'honest'))?.result).toEqual({ accepted: true });
    expect((await runSteps(world, job.id)).state).toBe('done');
  }, 120_000);

  it('settles a task on the content check alone when its replicator goes away', async () => {
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'left-a', '10.7.0.1');
    await addWorker(world, 'left-b', '10.7.0.2');
    expect((await work(world, 'left-a', 'honest'))?.result.reason).toContain('another volunteer');
    await world.scheduler.reap();
    expect((await taskOf(job.id)).state, 'a replicator is connected: keep waiting').toBe('queued');
    await world.database.db.execute(sql`UPDATE workers SET disconnected_at = now() WHERE id = 'left-b'`);
    await world.scheduler.reap();
    expect((await taskOf(job.id)).state).toBe('done');
    expect((await results(job.id)).map((r) => [r.verdict, r.reason])).toEqual([
      ['accepted', 'no independent replica came: accepted on the content check alone'],
    ]);
    expect((await runSteps(world, job.id)).state).toBe('done');
  }, 120_000);

  it('refuses a tampered replica, catches it at once (the chunk already passed the check), and waits for an honest one', async () => {
    const job = await startJob(world, source, '240p');
    await addWorker(world, 'hon-a', '10.8.0.1');
    await addWorker(world, 'bad-replica', '10.8.0.2');
    await addWorker(world, 'hon-c', '10.8.0.3');
    expect((await work(world, 'hon-a', 'honest'))?.result.accepted).toBe(true);
    const bad = await work(world, 'bad-replica', 'tampered');
    expect(bad?.result.reason).toMatch(/differs from the chunk in part of the picture/);
    expect(await trustRow(world, 'bad-replica')).toMatchObject({ caught: true, quarantined: true });
    expect(await taskOf(job.id)).toMatchObject({ state: 'queued', replica_config: WASM_X264_SINGLE_THREAD });
    await world.database.db.execute(sql`UPDATE tasks SET available_at = now() WHERE job_id = ${job.id}`);
    expect((await work(world, 'hon-c', 'honest'))?.result).toEqual({ accepted: true });
    expect((await results(job.id)).map((r) => [r.worker_id, r.verdict])).toEqual([
      ['hon-a', 'confirmed'],
      ['bad-replica', 'outvoted'],
      ['hon-c', 'confirmed'],
    ]);
  }, 120_000);

  it('reads the encoder configuration in SQL (claims, sweeps) exactly as in code', async () => {
    const cases: Capabilities[] = [
      { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false },
      { encoders: ['wasm-x264', 'webcodecs-h264'], threads: 1, wasmMultiThread: false },
      { encoders: ['wasm-x264'], threads: 2, wasmMultiThread: true },
      { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: true },
      { encoders: ['webcodecs-h264', 'wasm-x264'], threads: 1, wasmMultiThread: false },
      { encoders: ['native-x264'], threads: 1, wasmMultiThread: false },
    ];
    for (const [i, caps] of cases.entries()) await addWorker(world, `caps-${i}`, null, caps);
    const found = await rows<{ id: string; config: string | null }>(
      world.database.db,
      sql`SELECT id, ${deterministicConfigSql(sql`capabilities`)} AS config FROM workers WHERE id LIKE 'caps-%' ORDER BY id`,
    );
    expect(found.map((f) => f.config)).toEqual(cases.map((c) => deterministicConfig(c)));
  });
});
