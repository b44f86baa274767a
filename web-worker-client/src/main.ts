/**
 * The contributor page: wires the Session (encoder, connection, tasks) to the DOM.
 *
 * A person opening the page gets a Start button. Automation (navigator.webdriver:
 * `pnpm tabgrid workers`, the e2e tests) starts at once, as the page always
 * did, because those open plain /contribute/ and expect work to start.
 *
 * Query parameters:
 *   ?autostart=1 / 0  start on load, or wait for Start, whoever opens the page.
 *   ?threads=N     2..4: use the multi-thread core. Only honoured when the page
 *                  is cross-origin isolated (the coordinator must then send
 *                  COOP/COEP and storage must allow CORS/CORP); otherwise the
 *                  single-thread core is used.
 *   ?stallSeconds=S  restart ffmpeg when an exec shows no new frame for S
 *                  seconds (default 60; tests use a tiny value to force it).
 *   ?maxRungs=N    take at most N rungs of a chunk per task (1..4, default 4):
 *                  one decode for all of them; 1 for a tab short of memory.
 *   ?webcodecs=0   do not offer WebCodecs even when the browser has it (the
 *                  tab then takes x264 tasks only).
 */
// First: the page's CSP has no 'unsafe-eval', and zod must know before any schema is built.
import '@tabgrid/shared/no-eval';
import '@tabgrid/shared/site.css';
import './page.css';
import { X264_MAX_THREADS } from '@tabgrid/shared';
import { browserSocket } from './browser-socket.js';
import { wsUrl } from './connection.js';
import { Session } from './session.js';
import { FFMPEG_WASM_MAX_RUNGS, FfmpegWasmTranscoder } from './transcoder/ffmpeg-wasm.js';
import { tabAdvice } from './tab-advice.js';
import { EncoderSet } from './transcoder/by-encoder.js';
import { probeWebCodecsH264, WebCodecsTranscoder } from './transcoder/webcodecs.js';
import { PageView, pageStatus, type PageStatus } from './ui.js';
import { tabIdentity, type TabIdentity } from './worker-id.js';

declare global {
  interface Window {
    __tabgrid: { status(): PageStatus; start(): void; pause(): void; resume(): void };
  }
}

const query = new URLSearchParams(location.search);
const autostartParam = query.get('autostart');
const autostart = autostartParam === null ? navigator.webdriver : autostartParam !== '0';
const view = new PageView();

function log(level: 'info' | 'warn' | 'error', message: string): void {
  view.log(level, message);
  // The console gets real errors only, one JSON line each, so that a clean
  // console means a healthy tab (e2e tests check it).
  if (level === 'error') console.error(JSON.stringify({ source: 'tabgrid', level, message, at: new Date().toISOString() }));
}

function initialThreads(): number {
  const asked = Number(query.get('threads') ?? '1');
  if (!Number.isInteger(asked) || asked <= 1) return 1;
  if (!crossOriginIsolated) {
    log('warn', `?threads=${asked} needs a cross-origin isolated page (COOP + COEP); using the single-thread core`);
    return 1;
  }
  return Math.min(asked, X264_MAX_THREADS);
}

const stallSeconds = Number(query.get('stallSeconds'));
const askedRungs = Number(query.get('maxRungs'));
const maxRungs = Number.isInteger(askedRungs) && askedRungs >= 1 ? Math.min(askedRungs, FFMPEG_WASM_MAX_RUNGS) : FFMPEG_WASM_MAX_RUNGS;
// Asked once per page: a second ask would find this page holding the id and start without it.
const tabId = tabIdentity();
let identity: TabIdentity | null = null;
const threads = initialThreads();

// Asked of the browser before the first hello: a tab reports WebCodecs only once it has
// checked that VideoEncoder and VideoDecoder take H.264 here (the coordinator pins tasks to it).
const webcodecs = query.get('webcodecs') !== '0' && (await probeWebCodecsH264());

const session = new Session({
  wsUrl: wsUrl(location),
  identity: tabId,
  threads,
  createSocket: browserSocket,
  platform: { hardwareConcurrency: navigator.hardwareConcurrency || 1, userAgent: navigator.userAgent },
  createTranscoder: (n) => {
    const stall = stallSeconds > 0 ? { stallTimeoutMs: stallSeconds * 1000 } : {};
    return new EncoderSet(
      new FfmpegWasmTranscoder({ threads: n, maxRungs, ...stall }),
      webcodecs ? new WebCodecsTranscoder({ maxRungs, ...stall }) : null,
    );
  },
  log,
  onChange: () => render(),
});

const status = (): PageStatus => pageStatus(session.status(), identity?.workerId() ?? null);
let renderQueued = false;
function render(): void {
  // Progress arrives several times a second; one DOM update per frame is plenty.
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    view.render(session.status(), status());
  });
}

view.setThreadChoices(crossOriginIsolated, navigator.hardwareConcurrency || 1, threads);
/** Chromium's navigator.deviceMemory (GB, rounded down, at most 8); other browsers have none. */
const deviceMemory = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
const adviseTabs = (threadsPerTab: number) =>
  view.setTabAdvice(
    tabAdvice({ cores: navigator.hardwareConcurrency || 1, threadsPerTab, ...(deviceMemory ? { memoryGb: deviceMemory } : {}) }).text,
  );
adviseTabs(threads);
view.threads.addEventListener('change', () => {
  session.setThreads(Number(view.threads.value));
  adviseTabs(Number(view.threads.value));
});
view.pauseHidden.addEventListener('change', () => session.setPauseWhenHidden(view.pauseHidden.checked));
document.addEventListener('visibilitychange', () => session.setHidden(document.visibilityState === 'hidden'));
session.setHidden(document.visibilityState === 'hidden');

const start = () => {
  void session.start();
  // Keyboard users keep their place: the button they pressed is replaced by Pause.
  if (document.activeElement === view.start) requestAnimationFrame(() => view.pause.focus());
};
view.start.addEventListener('click', start);
view.pause.addEventListener('click', () => (session.status().run === 'running' ? session.pause() : session.resume()));

// Closing the tab: no `fail`; the browser closes the socket with 1001 and the
// coordinator hands the lease on at once without blaming the task.
window.addEventListener('pagehide', () => session.leave());
// Back from the back/forward cache with a dead session: start clean.
window.addEventListener('pageshow', (ev: PageTransitionEvent) => {
  if (ev.persisted) location.reload();
});

window.__tabgrid = {
  status,
  start: () => void session.start(),
  pause: () => session.pause(),
  resume: () => session.resume(),
};

// rAF does not run in hidden tabs; the timer keeps a hidden tab's status and
// countdowns current (and notices encoder restarts, which fire no event).
setInterval(() => view.render(session.status(), status()), 1000);
void tabId.then((id) => {
  identity = id;
  render();
  if (autostart) start();
});
render();
