/**
 * Starts a coordinator: database, storage, HTTP + WebSocket server, the
 * pipeline runner and the lease reaper. Used by main.ts and by the tests,
 * which start real coordinators on random ports.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { createAdaptorServer } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { openDatabase } from './db/client.js';
import { lockDataDir } from './data-dir-lock.js';
import type { Logger } from './logger.js';
import { checkMediaTools } from './media/tools.js';
import type { PipelineContext } from './pipeline/context.js';
import { startPipelineRunner } from './pipeline/runner.js';
import { TaskScheduler } from './scheduler/task-scheduler.js';
import { startEmbeddedS3 } from './storage/embedded-s3.js';
import { createStorageGateway } from './storage/gateway.js';
import { createS3Storage } from './storage/s3-storage.js';
import type { Storage } from './storage/storage.js';
import { attachWsGateway } from './ws/gateway.js';
import { releaseStepsOf } from './jobs/step-lease.js';

/**
 * A coordinator's identity survives restarts of the same DATA_DIR, so after
 * kill -9 it recognises the step leases it held and resumes them at once.
 */
async function coordinatorIdentity(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'coordinator-id');
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (/^[\w.-]{4,80}$/.test(existing)) return existing;
  const id = `${os.hostname()}-${randomBytes(4).toString('hex')}`;
  await writeFile(file, `${id}\n`);
  return id;
}

export interface RunningCoordinator {
  readonly url: string;
  readonly id: string;
  close(): Promise<void>;
}

export async function startCoordinator(config: Config, logger: Logger): Promise<RunningCoordinator> {
  await mkdir(config.dataDir, { recursive: true });
  const id = await coordinatorIdentity(config.dataDir);
  const log = logger.child({ coordinatorId: id });
  const cleanup: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const fn of cleanup.reverse()) {
      try {
        await fn();
      } catch (err) {
        log.warn({ err }, 'error during shutdown');
      }
    }
  };

  try {
    // Always one coordinator per DATA_DIR: the embedded database would be
    // corrupted by a second one, and the identity and scratch space are per directory.
    cleanup.push(lockDataDir(config.dataDir));

    const tools = { ffmpeg: config.ffmpegPath, ffprobe: config.ffprobePath };
    const versions = await checkMediaTools(tools);
    log.info({ ffmpeg: versions.ffmpeg }, 'media tools found');

    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    cleanup.push(() => database.close());
    log.info({ database: database.kind }, 'database ready, migrations applied');
    // Steps this coordinator was running when it died (kill -9) are ours to run again now,
    // rather than after their step lease runs out.
    const resumed = await releaseStepsOf(database.db, id);
    if (resumed > 0) log.info({ jobs: resumed }, 'resuming server-side steps left by the previous run');

    let publicUrl: URL | undefined;
    const publicEndpoint = () => {
      if (!publicUrl) throw new Error('public URL not known before listen');
      return publicUrl;
    };
    let storageGateway: { path: string; app: ReturnType<typeof createStorageGateway> } | undefined;
    let storage: Storage;
    if (config.s3) {
      const s3 = config.s3;
      storage = createS3Storage({
        endpoint: s3.endpoint,
        publicEndpoint: () => s3.publicEndpoint,
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        bucket: s3.bucket,
        region: s3.region,
      });
    } else {
      const s3 = await startEmbeddedS3({ dataDir: config.dataDir, logger: log });
      cleanup.push(() => s3.close());
      storage = createS3Storage({
        endpoint: s3.endpoint,
        publicEndpoint,
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        bucket: s3.bucket,
        region: s3.region,
      });
      storageGateway = {
        path: `/${s3.bucket}`,
        app: createStorageGateway({
          bucket: s3.bucket,
          upstream: s3.endpoint,
          accessKey: s3.accessKey,
          secretKey: s3.secretKey,
          region: s3.region,
          logger: log,
        }),
      };
    }
    await storage.ensureBucket();
    log.info({ storage: config.s3 ? config.s3.endpoint.origin : 'embedded', bucket: storage.bucket }, 'storage ready');

    const ctx: PipelineContext = { db: database.db, storage, tools, config, logger: log };
    let runner: ReturnType<typeof startPipelineRunner> | undefined;
    let gateway: ReturnType<typeof attachWsGateway> | undefined;
    const app = createApp(ctx, {
      ...(storageGateway ? { storageGateway: storageGateway as never } : {}),
      onJobCreated: () => runner?.poke(),
      revokeLeases: (ids, reason) => gateway?.revoke(ids, reason),
    });
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    // Uploads of large videos take long; the default 5-minute request timeout would cut them.
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanup.push(() => server.closeAllConnections());
    const { port } = server.address() as AddressInfo;
    const hostForUrl =
      config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
    publicUrl = new URL(config.publicUrl ?? `http://${hostForUrl}:${port}`);

    const policy = { ttlSeconds: config.leaseTtlSeconds, maxAttempts: config.maxAttempts };
    const scheduler = new TaskScheduler({
      db: database.db,
      storage,
      tools,
      config,
      logger: log,
      policy,
      onJobChanged: () => runner?.poke(),
    });
    runner = startPipelineRunner(ctx, id, { onJobChanged: () => gateway?.notifyWork() });
    cleanup.push(() => runner!.stop());
    gateway = attachWsGateway(server, {
      db: database.db,
      scheduler,
      logger: log,
      coordinatorId: id,
      leaseTtlSeconds: config.leaseTtlSeconds,
      disconnectGraceSeconds: config.disconnectGraceSeconds,
    });
    cleanup.push(() => gateway!.close());

    // After the database was unreachable, tabs could not renew their leases
    // either: once it answers again, give them one full TTL to heartbeat
    // before anything expires (otherwise every lease out would expire at once).
    let databaseDown = false;
    let graceUntil = 0;
    const reaper = setInterval(
      () => {
        if (databaseDown) {
          database.db
            .execute(sql`select 1`)
            .then(() => {
              databaseDown = false;
              graceUntil = Date.now() + config.leaseTtlSeconds * 1000;
              log.info(
                { graceSeconds: config.leaseTtlSeconds },
                'database reachable again; expiring no lease until tabs could renew theirs',
              );
            })
            .catch(() => undefined);
          return;
        }
        if (Date.now() < graceUntil) return;
        scheduler
          .reap()
          .then((ended) => {
            if (ended.length === 0) return;
            // Tell the tabs still holding them (here) to stop, so they take new work.
            gateway!.revoke(new Set(ended.map((e) => e.task_id)), 'the lease expired: no heartbeat in time');
            gateway!.notifyWork();
          })
          .catch((err: unknown) => {
            databaseDown = true;
            log.warn({ err: (err as Error).message }, 'reaper failed (database unavailable?); will retry');
          });
      },
      Math.max(1000, (config.leaseTtlSeconds * 1000) / 6),
    );
    cleanup.push(() => clearInterval(reaper));

    const url = publicUrl.toString().replace(/\/$/, '');
    log.info({ url, contribute: `${url}/contribute/`, dashboard: `${url}/` }, 'coordinator listening');
    return { url, id, close };
  } catch (err) {
    await close();
    throw err;
  }
}
