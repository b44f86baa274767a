/**
 * `tabgrid worker --native`: this machine's cores on the grid, with native
 * ffmpeg (@tabgrid/native-worker), until SIGINT or SIGTERM. Logs are pino
 * JSON lines on stdout (LOG_LEVEL, default info).
 *
 * The first SIGINT/SIGTERM lets every worker finish the task in hand (encode,
 * upload, report: the coordinator checks it without us), for at most
 * `graceSeconds`; the second, or the end of
 * the grace period, abandons what is left: ffmpeg is killed and each socket
 * closed cleanly (1000), which makes the coordinator hand the lease on at
 * once without blaming anyone. Returns the exit code.
 */
import os from 'node:os';
import { type NativeWorker, startNativeWorker } from '@tabgrid/native-worker';
import { pino } from 'pino';

export interface NativeWorkerCliOptions {
  readonly url: string;
  readonly concurrency: number;
  /** Per worker; default: the machine's cores shared out between the workers. */
  readonly threads: number | undefined;
  readonly name: string | undefined;
  readonly graceSeconds: number;
}

/** The default thread count per worker: every core, shared out, at least one each. */
export function defaultThreads(concurrency: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / concurrency));
}

export async function runNativeWorker(opts: NativeWorkerCliOptions): Promise<number> {
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'tabgrid-native-worker' } });
  const threads = opts.threads ?? defaultThreads(opts.concurrency);
  const startAbort = new AbortController();
  let signals = 0;
  let worker: NativeWorker | null = null;
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  // The first signal drains, any later one quits; whichever ends first ends the process.
  const stop = (w: NativeWorker, signal: string) => {
    if (signals === 1) {
      logger.info({ signal, graceSeconds: opts.graceSeconds }, 'stopping: finishing the tasks in hand (signal again to stop now)');
      void w.stop(opts.graceSeconds * 1000).then(resolveStopped);
    } else {
      logger.warn({ signal }, 'stopping now: abandoning the tasks in hand');
      void w.quit('the worker was stopped').then(resolveStopped);
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    startAbort.abort();
    if (worker) stop(worker, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  worker = await startNativeWorker({
    url: opts.url,
    concurrency: opts.concurrency,
    threads,
    ...(opts.name ? { name: opts.name } : {}),
    ...(process.env.FFMPEG_PATH ? { ffmpegPath: process.env.FFMPEG_PATH } : {}),
    logger,
    signal: startAbort.signal,
  });
  if (!worker) {
    logger.info('stopped before the coordinator answered');
    return 0;
  }
  if (signals > 0) stop(worker, 'SIGINT'); // asked to stop while the coordinator was first answering
  await stopped;
  logger.info({ done: worker.status().reduce((n, s) => n + (s.runner?.done ?? 0), 0) }, 'stopped');
  return 0;
}
