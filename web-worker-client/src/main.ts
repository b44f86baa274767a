/**
 * The contributor page: load the encoder, connect, run tasks, show status.
 *
 * Query parameters:
 *   ?autostart=0   do not start on load; the Start button (or
 *                  window.__tabgrid.start()) starts. Default: start at once.
 *   ?threads=N     2..4: use the multi-thread core. Only honoured when the page
 *                  is cross-origin isolated (the coordinator must then send
 *                  COOP/COEP and storage must allow CORS/CORP); otherwise the
 *                  single-thread core is used.
 *   ?stallSeconds=S  restart ffmpeg when an exec shows no new frame for S
 *                  seconds (default 60; tests use a tiny value to force it).
 */
import './page.css';
import type { Capabilities } from '@tabgrid/shared';
import { Connection, backoffDelay, wsUrl, type ConnectionState } from './connection.js';
import { TaskRunner } from './task-runner.js';
import { FfmpegWasmTranscoder } from './transcoder/ffmpeg-wasm.js';
import { MAX_THREADS } from './transcoder/x264-args.js';
import { PageView, type EncoderState, type PageStatus } from './ui.js';
import { tabWorkerId } from './worker-id.js';

declare global {
  interface Window {
    __tabgrid: { status(): PageStatus; start(): void };
  }
}

const query = new URLSearchParams(location.search);
const autostart = query.get('autostart') !== '0';
const view = new PageView();

function log(level: 'info' | 'warn' | 'error', message: string): void {
  view.log(level, message);
  // The console gets real errors only, one JSON line each, so that a clean
  // console means a healthy tab (e2e tests check it).
  if (level === 'error') console.error(JSON.stringify({ source: 'tabgrid', level, message, at: new Date().toISOString() }));
}

function chooseThreads(): number {
  const asked = Number(query.get('threads') ?? '1');
  if (!Number.isInteger(asked) || asked <= 1) return 1;
  if (!crossOriginIsolated) {
    log('warn', `?threads=${asked} needs a cross-origin isolated page (COOP + COEP); using the single-thread core`);
    return 1;
  }
  return Math.min(asked, MAX_THREADS);
}

const stallSeconds = Number(query.get('stallSeconds'));
const transcoder = new FfmpegWasmTranscoder({
  threads: chooseThreads(),
  ...(stallSeconds > 0 ? { stallTimeoutMs: stallSeconds * 1000 } : {}),
});
let workerId: string | null = null;
let encoderState: EncoderState = 'not-loaded';
let connection: Connection | null = null;
let connectionDetail: string | undefined;
let runner: TaskRunner | null = null;
let started = false;

function status(): PageStatus {
  const r = runner?.status();
  const c = r?.current ?? null;
  const state: EncoderState = encoderState === 'loaded' && !transcoder.loaded ? 'loading' : encoderState;
  return {
    connection: connection?.state ?? 'idle',
    workerId,
    encoder: { kind: transcoder.kind, threads: transcoder.threads, multiThread: transcoder.multiThread, state },
    tasksDone: r?.done ?? 0,
    failures: r?.failures ?? 0,
    currentLease: c && { leaseId: c.leaseId, jobId: c.jobId, chunk: c.chunk, rendition: c.rendition, attempt: c.attempt, stage: c.stage, progress: c.progress, frames: c.frames },
    lastError: r?.lastError ?? null,
  };
}

const render = () => view.render(status(), connection?.state === 'reconnecting' ? connectionDetail : undefined);

function capabilities(): Capabilities {
  return {
    encoders: [transcoder.kind],
    threads: transcoder.threads,
    wasmMultiThread: transcoder.multiThread,
    hardwareConcurrency: Math.min(1024, Math.max(1, navigator.hardwareConcurrency || 1)),
    userAgent: navigator.userAgent.slice(0, 512),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Loads the encoder before connecting: an assignment must not wait on a 32 MB download while its lease runs. */
async function loadEncoder(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    encoderState = 'loading';
    render();
    const t0 = performance.now();
    try {
      await transcoder.load();
      encoderState = 'loaded';
      log('info', `encoder loaded in ${Math.round(performance.now() - t0)} ms (${transcoder.multiThread ? `multi-thread, ${transcoder.threads} threads` : 'single-thread'})`);
      render();
      return;
    } catch (e) {
      encoderState = 'failed';
      const delay = backoffDelay(attempt, { initialMs: 5000, maxMs: 120_000 });
      log('error', `encoder failed to load: ${e instanceof Error ? e.message : String(e)}; retrying in ${Math.round(delay / 1000)} s`);
      render();
      await sleep(delay);
    }
  }
}

async function start(): Promise<void> {
  if (started) return;
  started = true;
  view.start.hidden = true;
  await loadEncoder();
  const id = (await tabId).workerId;
  const conn = new Connection({ url: wsUrl(location), hello: () => ({ workerId: id, capabilities: capabilities() }), log });
  const run = new TaskRunner({
    transcoder,
    send: (m, o) => conn.send(m, o),
    heartbeatIntervalMs: () => (conn.welcome?.heartbeatIntervalSeconds ?? 10) * 1000,
    onChange: render,
    log,
  });
  connection = conn;
  runner = run;
  conn.on('welcome', (m) => log('info', `connected as ${m.workerId}; heartbeat every ${m.heartbeatIntervalSeconds} s`));
  conn.on('assign', (m) => {
    log('info', `assigned job ${m.jobId.slice(0, 8)} chunk ${m.chunk} ${m.params.rendition} (attempt ${m.attempt})`);
    run.handleAssign(m);
  });
  conn.on('revoke', (m) => run.handleRevoke(m));
  conn.on('result', (m) => run.handleResult(m));
  conn.on('error', (m) => run.handleError(m));
  conn.onState((s: ConnectionState, detail?: string) => {
    connectionDetail = detail;
    render();
  });
  // Closing the tab mid-task gives the lease back now instead of after its TTL.
  addEventListener('pagehide', () => run.abandon('tab closed'));
  conn.start();
}

window.__tabgrid = {
  status,
  start: () => void start(),
};

view.start.addEventListener('click', () => void start());
setInterval(render, 1000); // encoder restarts after a stall happen without an event

// Asked once per page: a second ask would find this page holding the id and take another.
const tabId = tabWorkerId();
void tabId.then(({ workerId: id }) => {
  workerId = id;
  render();
  if (autostart) void start();
  else view.start.hidden = false;
});
