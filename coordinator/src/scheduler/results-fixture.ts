/**
 * Test-only: a coordinator's scheduling and pipeline parts on a fresh
 * database (the real PostgreSQL) and the embedded s3rver in-process, with
 * scripted workers that take a task, make any segment segment-forgery.ts
 * knows (honest, black, tampered, …) from the real chunk, upload it where
 * the tab's presigned PUT would and send `complete`. The results tests use
 * it, and an end-to-end malicious worker can build its segments the same
 * way.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { type Capabilities, type RenditionName, type RungLease, rungLeases } from '@tabgrid/shared';
import { type Config, loadConfig } from '../config.js';
import { rows } from '../db/client.js';
import type { Database } from '../db/client.js';
import { openTestDatabase, type TestDatabase } from '../db/test-database.js';
import { submitJob } from '../jobs/intake.js';
import { getJob, type JobRow } from '../jobs/job-table.js';
import { taskLeasePolicy } from '../leases/policy.js';
import { frameScores, writeConcatList } from '../media/quality.js';
import { type Forgery, forgeSegment } from '../media/segment-forgery.js';
import type { MediaTools } from '../media/tools.js';
import { createLocalNotifier, type Notifier } from '../notify/index.js';
import type { PipelineContext } from '../pipeline/context.js';
import { STEPS, stepsFor } from '../pipeline/steps.js';
import { type EmbeddedS3, startEmbeddedS3 } from '../storage/embedded-s3.js';
import { storageKeys } from '../storage/keys.js';
import { createS3Storage } from '../storage/s3-storage.js';
import type { Storage } from '../storage/storage.js';
import { openSession } from '../workers/worker-table.js';
import { type CompletionResult, TaskScheduler } from './task-scheduler.js';

const run = promisify(execFile);

/** The single-thread wasm core: deterministic, so its results are replicated. */
export const WASM_SINGLE_THREAD: Capabilities = { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false };
/** WebCodecs: not deterministic, checked by content only. */
export const WEBCODECS: Capabilities = { encoders: ['webcodecs-h264'], threads: 4, wasmMultiThread: false };
/** What `tabgrid worker --native` says in hello (native ffmpeg with its SIMD kernels: not the wasm core's frames). */
export const NATIVE: Capabilities = { encoders: ['native-x264'], threads: 2, wasmMultiThread: false, hardwareConcurrency: 2 };

export interface ResultsWorld {
  readonly database: Database;
  readonly storage: Storage;
  readonly config: Config;
  readonly notifier: Notifier;
  readonly scheduler: TaskScheduler;
  readonly ctx: PipelineContext;
  readonly dir: string;
  close(): Promise<void>;
}

export async function openResultsWorld(
  opts: { env?: Record<string, string>; checkSlots?: number; random?: () => number } = {},
): Promise<ResultsWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tabgrid-results-'));
  let testDb: TestDatabase | undefined;
  let s3: EmbeddedS3 | undefined;
  let database: Database | undefined;
  try {
    ({ database, test: testDb } = await openTestDatabase('tabgrid_results'));
    const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    s3 = await startEmbeddedS3({ dataDir: dir, logger });
    const storage = createS3Storage({ ...s3, publicEndpoint: () => new URL('http://127.0.0.1:9') });
    await storage.ensureBucket();
    const config = loadConfig({ DATA_DIR: dir, RENDITIONS: '360p,240p', CHUNK_SECONDS: '2', ...opts.env });
    const notifier = createLocalNotifier();
    const tools: MediaTools = { ffmpeg: config.ffmpegPath, ffprobe: config.ffprobePath };
    const policy = taskLeasePolicy(config);
    const scheduler = new TaskScheduler({
      db: database.db,
      storage,
      tools,
      config,
      logger,
      policy,
      notifier,
      ...(opts.checkSlots ? { checkSlots: opts.checkSlots } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    });
    const ctx: PipelineContext = { db: database.db, storage, tools, config, logger, notifier };
    const [db, test, server] = [database, testDb, s3];
    return {
      database: db,
      storage,
      config,
      notifier,
      scheduler,
      ctx,
      dir,
      async close() {
        scheduler.close();
        await db.close();
        await test.drop();
        await server.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await database?.close();
    await testDb?.drop();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A source clip, H.264 with a keyframe every `gop` frames, no audio: a
 * moving test picture (testsrc2) unless `lavfi` names another source (its
 * output then goes through `vf`, e.g. a scale to the size).
 */
export async function makeSource(
  file: string,
  spec: { seconds: number; width: number; height: number; gop: number; lavfi?: string; vf?: string },
): Promise<void> {
  const input = spec.lavfi ?? `testsrc2=size=${spec.width}x${spec.height}:rate=30`;
  await run('ffmpeg', [
    ...['-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', input, ...(spec.vf ? ['-vf', spec.vf] : [])],
    ...['-t', String(spec.seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-g', String(spec.gop)],
    ...['-pix_fmt', 'yuv420p', file],
  ]);
}

/** Submits `source` and runs the server steps until its tasks wait for workers (transcoding). */
export async function startJob(world: ResultsWorld, source: string, renditions = '360p,240p', encoder = 'x264'): Promise<JobRow> {
  const copy = path.join(world.dir, `upload-${Date.now()}.mp4`);
  await run('cp', [source, copy]);
  const job = await submitJob(world.ctx, {
    path: copy,
    filename: 'source.mp4',
    size: (await readFile(copy)).length,
    fields: { renditions, encoder },
  });
  for (let i = 0; i < 3; i++) {
    const now = (await getJob(world.database.db, job.id))!;
    for (const step of stepsFor(now)) await STEPS[step](world.ctx, now);
  }
  const ready = (await getJob(world.database.db, job.id))!;
  if (ready.state !== 'transcoding') throw new Error(`job ${job.id} is ${ready.state}, not transcoding: ${ready.error}`);
  return ready;
}

/**
 * Between tests: every job still running is canceled (its tasks are never
 * claimed again) and every worker is gone, so no test's workers replicate,
 * or take work from, the next one's job.
 */
export async function retireAll(world: ResultsWorld): Promise<void> {
  await world.database.db.execute(sql`UPDATE jobs SET state = 'canceled' WHERE state IN ('transcoding', 'merging')`);
  await world.database.db.execute(sql`UPDATE workers SET disconnected_at = now() WHERE disconnected_at IS NULL`);
}

/** A worker said hello from `address` with `capabilities`. */
export async function addWorker(world: ResultsWorld, id: string, address: string | null, capabilities = WASM_SINGLE_THREAD): Promise<void> {
  await openSession(world.database.db, { workerId: id, name: id, capabilities, coordinatorId: 'test', address: address ?? '' });
  // null: a worker whose address is unknown (a row from before addresses were kept).
  if (address === null) await world.database.db.execute(sql`UPDATE workers SET address = NULL WHERE id = ${id}`);
}

export interface WorkDone {
  readonly assignment: RungLease;
  readonly result: CompletionResult;
  readonly segmentKey: string;
  readonly sha256: string;
}

/**
 * `workerId` asks for a task and, if it gets one, makes segment `kind` from
 * the real chunk, uploads it under its attempt's key and completes. null
 * when there was no task for it.
 */
export async function work(world: ResultsWorld, workerId: string, kind: Forgery): Promise<WorkDone | null> {
  const assigned = await world.scheduler.assign(workerId);
  if (!assigned) return null;
  const [assignment] = rungLeases(assigned) as [RungLease];
  const segmentKey = await upload(world, assignment, kind);
  const bytes = await readFile(localSegment(world, assignment));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const result = await world.scheduler.complete(workerId, {
    type: 'complete',
    id: `c-${assignment.leaseId}`,
    leaseId: assignment.leaseId,
    token: assignment.token,
    size: bytes.length,
    sha256,
  });
  return { assignment, result, segmentKey, sha256 };
}

const localSegment = (world: ResultsWorld, a: RungLease) => path.join(world.dir, 'segments', `${a.leaseId}.a${a.attempt}.mp4`);

/** Makes segment `kind` for an assignment and PUTs it where its presigned URL points. Returns the key. */
export async function upload(world: ResultsWorld, a: RungLease, kind: Forgery): Promise<string> {
  await mkdir(path.join(world.dir, 'segments'), { recursive: true });
  const chunk = path.join(world.dir, 'segments', `${a.leaseId}.chunk.mkv`);
  await world.storage.getToFile(storageKeys.chunk(a.jobId, a.chunk), chunk);
  const out = localSegment(world, a);
  await forgeSegment({ kind, chunk, params: a.params, out });
  const key = storageKeys.segment(a.jobId, a.params.rendition, a.chunk, a.attempt);
  await world.storage.putFile(key, out, 'video/mp4');
  return key;
}

/** Runs the job's server steps once (the merge when it is merging); returns its state after. */
export async function runSteps(world: ResultsWorld, jobId: string): Promise<JobRow> {
  const job = (await getJob(world.database.db, jobId))!;
  for (const step of stepsFor(job)) if (step !== 'quality' && step !== 'cleanup') await STEPS[step](world.ctx, job);
  return (await getJob(world.database.db, jobId))!;
}

/** Worst and mean per-frame PSNR of a merged rendition against the chunks the tabs were given. */
export async function outputPsnr(
  world: ResultsWorld,
  job: JobRow,
  rendition: RenditionName,
): Promise<{ min: number; mean: number; frames: number }> {
  const dir = path.join(world.dir, `psnr-${job.id}-${rendition}`);
  await mkdir(dir, { recursive: true });
  const output = path.join(dir, 'output.mp4');
  await world.storage.getToFile(storageKeys.output(job.id, rendition), output);
  const chunks: string[] = [];
  for (const key of (await world.storage.list(storageKeys.chunksPrefix(job.id))).sort()) {
    const file = path.join(dir, path.basename(key));
    await world.storage.getToFile(key, file);
    chunks.push(file);
  }
  const list = path.join(dir, 'chunks.txt');
  await writeConcatList(list, chunks);
  const rung = job.ladder!.find((r) => r.name === rendition)!;
  const scores = await frameScores(
    { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
    {
      distorted: output,
      reference: list,
      params: { width: rung.width, height: rung.height, rotation: 0 },
      statsDir: dir,
    },
  );
  const psnr = scores.mse.map((m) => (m > 0 ? 10 * Math.log10((255 * 255) / m) : 100));
  return { min: Math.min(...psnr), mean: psnr.reduce((a, b) => a + b, 0) / psnr.length, frames: psnr.length };
}

/** One worker row's trust columns. */
export async function trustRow(
  world: ResultsWorld,
  workerId: string,
): Promise<{
  confirmed_results: number;
  caught: boolean;
  quarantined: boolean;
  consecutive_failures: number;
  caught_reason: string | null;
}> {
  const [row] = await rows<{
    confirmed_results: number;
    caught: boolean;
    quarantined: boolean;
    consecutive_failures: number;
    caught_reason: string | null;
  }>(
    world.database.db,
    sql`SELECT confirmed_results, caught_at IS NOT NULL AS caught, coalesce(quarantined_until > now() + interval '1 hour', false) AS quarantined,
               consecutive_failures, caught_reason
          FROM workers WHERE id = ${workerId}`,
  );
  return row!;
}
