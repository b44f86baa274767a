/**
 * `tabgrid worker --native`: an operator's server donating its cores to the
 * grid. Runs `concurrency` workers in one process, each exactly what a tab
 * runs (the page's Session, Connection and TaskRunner from
 * web-worker-client's runtime), with a `ws` socket, native ffmpeg
 * (NativeTranscoder) and a fetch held to the coordinator's and its
 * storage's origins (url-guard.ts). Each worker is its own identity on the
 * grid, issued by the coordinator and kept in memory: a restarted process
 * joins as new workers, as reopened tabs do.
 *
 * Returns a handle to stop it: stop() lets every worker finish the task in
 * hand (downloaded, encoded, uploaded and reported; the coordinator checks
 * it without us) and closes its socket with 1000, quitting what is left
 * once the grace period is over; quit() abandons the tasks at
 * once (ffmpeg killed, socket closed with 1000: the coordinator hands each
 * lease on at once and blames nobody). Reconnection is the Connection's own
 * (exponential backoff with jitter, shared/src/backoff.ts); the first
 * contact, reading the allowed origins, retries with the same policy.
 * Rejects (TranscodeError 'load_failed') when there is no usable ffmpeg.
 */
import os from 'node:os';
import { backoffDelay } from '@tabgrid/shared';
import { memoryIdentity, RECONNECT_BACKOFF, Session, wsUrl, type SessionStatus } from '@tabgrid/web-worker-client/runtime';
import type { Logger } from 'pino';
import { NativeTranscoder } from './native-transcoder.js';
import { allowedOrigins, guardedFetch } from './url-guard.js';
import { wsSocket } from './ws-socket.js';

export interface NativeWorkerOptions {
  /** The coordinator, e.g. http://127.0.0.1:8000. */
  readonly url: string;
  /** Workers in this process, each with its own ffmpeg and its own identity on the grid. */
  readonly concurrency: number;
  /** ffmpeg and x264 threads per worker. */
  readonly threads: number;
  /** Shown in the dashboard; with several workers, `NAME-1`, `NAME-2`, … */
  readonly name?: string;
  readonly ffmpegPath?: string;
  /** Rungs of one chunk per ffmpeg run (one decode for all). */
  readonly maxRungs?: number;
  readonly stallTimeoutMs?: number;
  readonly logger: Logger;
  /** Tests: the fetch underneath the guard, and another loopback address to connect from. */
  readonly fetch?: typeof fetch;
  readonly localAddress?: string;
  /** Ends the wait for a coordinator that does not answer at start. */
  readonly signal?: AbortSignal;
}

export interface WorkerSlot {
  readonly name: string;
  readonly workerId: () => string | null;
  readonly session: Session;
}

export interface NativeWorker {
  readonly slots: readonly WorkerSlot[];
  readonly origins: ReadonlySet<string>;
  status(): SessionStatus[];
  /** Finish the tasks in hand, then close; after `graceMs`, abandon whatever is still running. Resolves once every ffmpeg has stopped. */
  stop(graceMs: number): Promise<void>;
  /** Abandon the tasks in hand now. Resolves once every ffmpeg has stopped. */
  quit(reason: string): Promise<void>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Reads the allowed origins, retrying with the reconnect backoff until the coordinator answers (or `signal` aborts: null). */
async function firstContact(opts: NativeWorkerOptions, coordinator: URL): Promise<Set<string> | null> {
  for (let attempt = 0; !opts.signal?.aborted; attempt++) {
    try {
      return await allowedOrigins(coordinator, opts.fetch);
    } catch (e) {
      const delay = backoffDelay(attempt, RECONNECT_BACKOFF);
      opts.logger.warn(
        { err: e instanceof Error ? e.message : String(e), retryInMs: delay },
        `cannot reach the coordinator at ${coordinator.origin}`,
      );
      await sleep(delay, opts.signal);
    }
  }
  return null;
}

export async function startNativeWorker(opts: NativeWorkerOptions): Promise<NativeWorker | null> {
  const coordinator = new URL(opts.url);
  // No ffmpeg, or one without libx264, is the operator's to fix: say so now rather than retry forever.
  const probe = new NativeTranscoder({ threads: opts.threads, ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}) });
  await probe.load();
  opts.logger.info({ ffmpeg: probe.version, threads: opts.threads }, 'ffmpeg with libx264 found');
  const origins = await firstContact(opts, coordinator);
  if (!origins) return null;
  const log = opts.logger;
  log.info({ origins: [...origins] }, 'fetching only from the coordinator and its storage');
  const fetchImpl = guardedFetch(origins, opts.fetch);
  let ffmpegVersion = 'ffmpeg';
  const platform = {
    hardwareConcurrency: os.availableParallelism(),
    get userAgent() {
      return `tabgrid-native-worker (${ffmpegVersion}; node ${process.version}; ${os.platform()} ${os.arch()})`;
    },
  };
  const slots: WorkerSlot[] = [];
  for (let i = 1; i <= opts.concurrency; i++) {
    const name = opts.name ? (opts.concurrency === 1 ? opts.name : `${opts.name}-${i}`) : `native-${os.hostname()}-${i}`;
    const identity = memoryIdentity();
    const slotLog = (level: 'info' | 'warn' | 'error', message: string) =>
      log[level]({ slot: i, worker: identity.workerId() ?? undefined }, message);
    let seen = { done: 0, failures: 0 };
    const session: Session = new Session({
      wsUrl: wsUrl(coordinator),
      identity: Promise.resolve(identity),
      threads: opts.threads,
      createTranscoder: (threads) => {
        const t = new NativeTranscoder({
          threads,
          ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}),
          ...(opts.maxRungs ? { maxRungs: opts.maxRungs } : {}),
          ...(opts.stallTimeoutMs ? { stallTimeoutMs: opts.stallTimeoutMs } : {}),
        });
        void t.load().then(
          () => {
            ffmpegVersion = t.version?.replace(/ Copyright.*$/, '') ?? ffmpegVersion;
          },
          () => undefined, // the session reports and retries load failures
        );
        return t;
      },
      createSocket: (url) =>
        wsSocket(url, { userAgent: platform.userAgent, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }),
      fetch: fetchImpl,
      platform,
      name: name.slice(0, 80),
      log: slotLog,
      onChange: () => {
        // One structured line per finished task, from the runner's own counters.
        const r = session?.status().runner;
        if (!r || (r.done === seen.done && r.failures === seen.failures)) return;
        const last = r.recent.at(-1);
        log.info(
          {
            slot: i,
            worker: identity.workerId(),
            done: r.done,
            failures: r.failures,
            lastError: r.lastError,
            lastEncodeMs: last?.encodeMs,
          },
          r.failures > seen.failures ? 'task failed' : 'segment accepted',
        );
        seen = { done: r.done, failures: r.failures };
      },
    });
    slots.push({ name, workerId: () => identity.workerId(), session });
  }
  for (const s of slots) void s.session.start();
  log.info({ url: coordinator.origin, concurrency: opts.concurrency, threads: opts.threads }, 'native workers started');

  const idle = () => Promise.all(slots.map((s) => s.session.idle())).then(() => undefined);
  const quit = async (reason: string) => {
    for (const s of slots) s.session.quit(reason);
    await idle();
  };
  return {
    slots,
    origins,
    status: () => slots.map((s) => s.session.status()),
    quit,
    async stop(graceMs) {
      for (const s of slots) s.session.pause('user');
      const paused = () => slots.every((s) => s.session.status().run === 'paused');
      const deadline = Date.now() + graceMs;
      while (!paused() && Date.now() < deadline) await sleep(100);
      if (!paused()) {
        log.warn({ graceMs }, 'grace period over: abandoning the tasks still in hand');
        await quit('the worker is stopping');
        return;
      }
      await idle();
    },
  };
}
