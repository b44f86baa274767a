/**
 * The composition root: starts a coordinator's parts in dependency order and
 * stops them in reverse. It only wires; what each part does is in its own
 * module. Used by main.ts and by the tests, which start real coordinators on
 * random ports.
 *
 *   data dir lock → media tools → database (migrations) → notifier
 *   → storage → HTTP app + server → scheduler → pipeline runner
 *   → WebSocket gateway (dispatcher) → lease reaper → listen
 *
 * The parts never call each other through late-bound references: a part that
 * changes something announces it on the notifier, and the parts that care
 * (on this coordinator or any other sharing the database) wake up.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { lockDataDir } from './data-dir-lock.js';
import { openDatabase } from './db/client.js';
import { stepLeasePolicy, taskLeasePolicy } from './leases/policy.js';
import { releaseStepsOf } from './leases/step-lease.js';
import type { Logger } from './logger.js';
import { refuseSourceEndpoint } from './jobs/source-address.js';
import { checkMediaTools, setToolMemoryLimit } from './media/tools.js';
import { createHostAllowList } from './http/host-allow-list.js';
import { createNotifier } from './notify/index.js';
import type { PipelineContext } from './pipeline/context.js';
import { startPipelineRunner } from './pipeline/runner.js';
import { startReaper } from './scheduler/reaper.js';
import { TaskScheduler } from './scheduler/task-scheduler.js';
import { openStorage } from './storage/open-storage.js';
import { attachWsGateway } from './ws/gateway.js';

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

/** The origin browsers use: PUBLIC_URL, or the address the server listens on. */
function publicUrlOf(config: Config, port: number): URL {
  const host =
    config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
  return new URL(config.publicUrl ?? `http://${host}:${port}`);
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
  const stack: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const fn of stack.reverse()) {
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
    stack.push(lockDataDir(config.dataDir));

    const tools = { ffmpeg: config.ffmpegPath, ffprobe: config.ffprobePath };
    setToolMemoryLimit(config.toolMemoryLimitBytes);
    const versions = await checkMediaTools(tools);
    log.info({ ffmpeg: versions.ffmpeg, toolMemoryCeilingMiB: versions.memoryCeilingMiB }, 'media tools found');
    if (versions.memoryCeilingMiB === null) log.warn('prlimit (util-linux) not found: ffmpeg and ffprobe run without a memory ceiling');

    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    stack.push(() => database.close());
    log.info({ database: database.kind }, 'database ready, migrations applied');
    const notifier = await createNotifier(database, log);
    stack.push(() => notifier.close());
    // Steps this coordinator was running when it died (kill -9) are ours to run again now,
    // rather than after their step lease runs out.
    const resumed = await releaseStepsOf(database.db, id);
    if (resumed > 0) log.info({ jobs: resumed }, 'resuming server-side steps left by the previous run');

    // Known once the server listens (PORT=0 lets the system choose); only read when a URL is signed.
    let publicUrl: URL | undefined;
    const storage = await openStorage(config, log, () => {
      if (!publicUrl) throw new Error('public URL not known before listen');
      return publicUrl;
    });
    stack.push(() => storage.close());
    if (storage.internalEndpoint) stack.push(refuseSourceEndpoint(storage.internalEndpoint));
    log.info({ storage: config.s3 ? config.s3.endpoint.origin : 'embedded', bucket: storage.storage.bucket }, 'storage ready');

    const ctx: PipelineContext = { db: database.db, storage: storage.storage, tools, config, logger: log, notifier };
    const app = createApp(ctx, storage.gateway ? { storageGateway: storage.gateway } : {});
    // Headers must arrive within HTTP_HEADERS_TIMEOUT_SECONDS, checked every second or two rather than every 30 s.
    // A whole request (an upload) is cut by the upload route first, in words (routes/upload.ts); Node's
    // request timeout, a minute later, is the backstop for every other route.
    const headersTimeout = config.httpHeadersTimeoutSeconds * 1000;
    const server = createAdaptorServer({
      fetch: app.fetch,
      serverOptions: {
        headersTimeout,
        requestTimeout: (config.uploads.timeoutSeconds + 60) * 1000,
        connectionsCheckingInterval: Math.min(2000, headersTimeout / 2),
      },
    }) as Server;
    stack.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    stack.push(() => server.closeAllConnections());

    const policy = taskLeasePolicy(config);
    const scheduler = new TaskScheduler({ db: database.db, storage: storage.storage, tools, config, logger: log, policy, notifier });
    stack.push(() => scheduler.close());
    const runner = startPipelineRunner(ctx, id, stepLeasePolicy(config));
    stack.push(() => runner.stop());
    const gateway = attachWsGateway(server, {
      db: database.db,
      scheduler,
      logger: log,
      coordinatorId: id,
      leaseTtlSeconds: config.leaseTtlSeconds,
      disconnectGraceSeconds: config.disconnectGraceSeconds,
      notifier,
      limits: config.ws,
      trustProxy: config.trustProxy,
      hosts: createHostAllowList(config),
    });
    stack.push(() => gateway.close());
    const reaper = startReaper({ db: database.db, scheduler, policy, logger: log });
    stack.push(() => reaper.stop());

    // Listen last: every part, the WebSocket gateway included, is in place before the first request,
    // so an upgrade during a restart never reaches the static pages (it used to get index.html with a 200).
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    publicUrl = publicUrlOf(config, (server.address() as AddressInfo).port);

    const url = publicUrl.toString().replace(/\/$/, '');
    log.info({ url, contribute: `${url}/contribute/`, dashboard: `${url}/` }, 'coordinator listening');
    return { url, id, close };
  } catch (err) {
    await close();
    throw err;
  }
}
