/**
 * Test support: a real coordinator in this process, on a fresh PostgreSQL
 * database (or PGlite), a temporary DATA_DIR and a random port, with its own
 * database handle for the test to look and poke at; closed and dropped
 * afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config.js';
import { type RunningCoordinator, startCoordinator } from '../../coordinator.js';
import { type Database, openDatabase } from '../../db/client.js';
import { jobs, tasks } from '../../db/schema.js';
import { createTestDatabase, type TestDatabase } from '../../db/test-database.js';
import { pino } from 'pino';
import { createLogger } from '../../logger.js';

export interface TestCoordinator {
  readonly url: string;
  readonly port: number;
  /** A second handle on the coordinator's database (null on PGlite, which only one process handle may open). */
  readonly database: Database | null;
  close(): Promise<void>;
}

export async function startTestCoordinator(
  env: Record<string, string> = {},
  /** `logLines`: every log line (JSON) at debug level and above is pushed here, for tests that read the logs. */
  opts: { pglite?: boolean; logLines?: string[] } = {},
): Promise<TestCoordinator> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tabgrid-ws-'));
  let testDb: TestDatabase | undefined;
  let coordinator: RunningCoordinator | undefined;
  let database: Database | null = null;
  try {
    if (!opts.pglite) testDb = await createTestDatabase('tabgrid_ws');
    const config = loadConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...(testDb ? { DATABASE_URL: testDb.url } : {}),
      ...env,
    });
    const lines = opts.logLines;
    const logger = lines ? pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }) : createLogger(config.logLevel);
    coordinator = await startCoordinator(config, logger);
    if (testDb) database = await openDatabase({ databaseUrl: testDb.url, dataDir: '/nonexistent' });
    const port = Number(new URL(coordinator.url).port);
    const running = coordinator;
    return {
      url: coordinator.url,
      port,
      database,
      async close() {
        await running.close();
        await database?.close();
        await testDb?.drop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await coordinator?.close();
    await database?.close();
    await testDb?.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** GET /healthz: the status and how long it took, in ms. */
export async function health(url: string, timeoutMs = 5000): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0 };
}

/** Inserts a job already transcoding with `taskCount` queued 360p tasks (chunk i each); returns the job id and task ids in claim order. */
export async function seedTranscodingJob(db: Database['db'], taskCount: number): Promise<{ jobId: string; taskIds: string[] }> {
  const jobId = randomUUID();
  await db.insert(jobs).values({
    id: jobId,
    name: 'seeded.mp4',
    state: 'transcoding',
    requestedRenditions: ['360p'],
    sourceKey: `videos/${jobId}/source/source.mp4`,
    sourceSize: 1,
  });
  const taskIds = Array.from({ length: taskCount }, () => randomUUID());
  await db.insert(tasks).values(
    taskIds.map((id, i) => ({
      id,
      jobId,
      chunkIndex: i,
      rendition: '360p' as const,
      params: {
        rendition: '360p' as const,
        codec: 'h264' as const,
        width: 640,
        height: 360,
        rotation: 0 as const,
        crf: 23,
        maxrateKbps: 800,
        bufsizeKbps: 1600,
        preset: 'veryfast' as const,
        frames: 120,
      },
      chunkKey: `videos/${jobId}/chunks/source/chunk_${String(i).padStart(4, '0')}.mkv`,
      chunkSize: 100,
    })),
  );
  return { jobId, taskIds };
}
