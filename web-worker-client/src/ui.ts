/** Renders the page's status; the markup (and its data-testid hooks) lives in index.html. */
import type { ConnectionState } from './connection.js';
import type { EncoderState, RunState, SessionStatus } from './session.js';
import { formatDuration, formatSpeed, speedOf, type Speed } from './speed.js';
import type { CurrentTask } from './task-runner.js';

/** What window.__tabgrid.status() returns; automated tests rely on this shape. */
export interface PageStatus {
  readonly connection: ConnectionState;
  readonly workerId: string | null;
  readonly encoder: { readonly kind: string; readonly threads: number; readonly multiThread: boolean; readonly state: EncoderState };
  readonly tasksDone: number;
  readonly failures: number;
  readonly currentLease: Omit<CurrentTask, 'startedAt'> | null;
  readonly lastError: string | null;
  readonly run: RunState;
  readonly speed: Speed | null;
  readonly encodeMsTotal: number;
}

export function pageStatus(s: SessionStatus, workerId: string | null): PageStatus {
  const r = s.runner;
  const c = r?.current ?? null;
  return {
    connection: s.connection,
    workerId,
    encoder: s.encoder,
    tasksDone: r?.done ?? 0,
    failures: r?.failures ?? 0,
    currentLease: c && {
      leaseId: c.leaseId,
      jobId: c.jobId,
      chunk: c.chunk,
      rendition: c.rendition,
      attempt: c.attempt,
      stage: c.stage,
      progress: c.progress,
      frames: c.frames,
      totalFrames: c.totalFrames,
      ...(c.retryAt === undefined ? {} : { retryAt: c.retryAt }),
      rungs: c.rungs,
    },
    lastError: r?.lastError ?? null,
    run: s.run,
    speed: speedOf(r?.recent ?? []),
    encodeMsTotal: r?.encodeMsTotal ?? 0,
  };
}

const LOG_MAX = 200;
const ENCODER_TEXT: Record<EncoderState, string> = {
  'not-loaded': 'not loaded',
  loading: 'loading…',
  loaded: 'loaded',
  failed: 'failed to load',
};

function el<T extends HTMLElement = HTMLElement>(testid: string): T {
  const found = document.querySelector<T>(`[data-testid="${testid}"]`);
  if (!found) throw new Error(`index.html lacks data-testid="${testid}"`);
  return found;
}

function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** One line for the live region: changes only when the state does, so a screen reader is not flooded. */
function summary(s: SessionStatus): string {
  if (s.run === 'not-started') return 'Not started. Press Start to contribute.';
  if (s.run === 'paused') return s.pausedBy === 'hidden' ? 'Paused while this tab is hidden.' : 'Paused. Press Resume to continue.';
  if (s.run === 'pausing') return 'Pausing: finishing the current task, then taking no more.';
  if (s.encoder.state === 'failed') return 'The encoder failed to load; retrying.';
  if (s.encoder.state !== 'loaded' && s.connection !== 'connected') return 'Loading the encoder (about 30 MB, once)…';
  if (s.connection === 'reconnecting')
    return s.runner?.current ? 'Connection lost. Reconnecting; the current task goes on.' : 'Connection lost. Reconnecting…';
  if (s.connection === 'stopped') return 'Stopped. Reload the page to start again.';
  if (s.connection !== 'connected') return 'Connecting…';
  return s.runner?.current ? 'Connected and working.' : 'Connected. Waiting for work.';
}

function stageText(t: NonNullable<PageStatus['currentLease']>, now: number): string {
  switch (t.stage) {
    case 'downloading':
      return `downloading the piece · ${Math.round(t.progress * 100)} %`;
    case 'transcoding':
      return `transcoding · frame ${t.frames ?? 0} of ${t.totalFrames} · ${Math.round(t.progress * 100)} %`;
    case 'uploading':
      return `uploading the result · ${Math.round(t.progress * 100)} %`;
    case 'checking':
      return t.retryAt === undefined
        ? 'uploaded; the coordinator is checking it'
        : `uploaded; the coordinator could not check it yet, asking again in ${Math.max(0, Math.ceil((t.retryAt - now) / 1000))} s`;
  }
}

export class PageView {
  readonly #connection = el('connection-state');
  readonly #encoder = el('encoder-state');
  readonly #done = el('tasks-done');
  readonly #failures = el('failures');
  readonly #speed = el('speed');
  readonly #connectionDetail = el('connection-detail');
  readonly #encoderDetail = el('encoder-detail');
  readonly #progressRow = el('progress-row');
  readonly #cpu = el('cpu-time');
  readonly #summary = el('summary');
  readonly #task = el('current-task');
  readonly #taskLine = el('task-line');
  readonly #stage = el('task-stage');
  readonly #progress = el<HTMLProgressElement>('task-progress');
  readonly #log = el<HTMLOListElement>('log');
  readonly #workerId = el('worker-id');
  readonly start = el<HTMLButtonElement>('start');
  readonly pause = el<HTMLButtonElement>('pause');
  readonly #pauseHint = el('pause-hint');
  readonly threads = el<HTMLSelectElement>('threads');
  readonly threadsHint = el('threads-hint');
  readonly #tabsHint = el('tabs-hint');
  readonly pauseHidden = el<HTMLInputElement>('pause-hidden');
  readonly logToggle = el<HTMLButtonElement>('log-toggle');

  constructor() {
    this.logToggle.addEventListener('click', () => {
      const show = this.#log.hidden;
      this.#log.hidden = !show;
      this.logToggle.setAttribute('aria-expanded', String(show));
      this.logToggle.textContent = show ? 'Hide log' : 'Show log';
    });
  }

  render(s: SessionStatus, p: PageStatus): void {
    const paused = s.run === 'paused';
    this.#connection.dataset.state = paused ? 'paused' : s.connection;
    setText(this.#connection, paused ? 'paused' : s.connection);
    setText(
      this.#connectionDetail,
      paused ? 'disconnected until you resume' : s.connection === 'reconnecting' ? (s.connectionDetail ?? '') : '',
    );
    this.#encoder.dataset.state = s.encoder.state;
    const loaded = s.encoder.kinds.includes('webcodecs-h264') ? 'x264 + WebCodecs' : 'x264';
    setText(this.#encoder, s.encoder.state === 'loaded' ? loaded : ENCODER_TEXT[s.encoder.state]);
    const threads = s.encoder.multiThread ? `${s.encoder.threads} threads` : '1 thread';
    setText(this.#encoderDetail, s.pendingThreads !== null ? `${threads}; ${s.pendingThreads} after this task` : threads);
    setText(this.#done, String(p.tasksDone));
    setText(this.#failures, String(p.failures));
    const speed = formatSpeed(p.speed);
    setText(this.#speed.firstElementChild as HTMLElement, speed.value);
    setText(this.#speed.lastElementChild as HTMLElement, speed.sub);
    setText(this.#cpu, formatDuration(p.encodeMsTotal));
    setText(this.#summary, summary(s));
    setText(this.#workerId, p.workerId ?? '…');

    this.start.hidden = s.run !== 'not-started';
    this.pause.hidden = s.run === 'not-started';
    this.#pauseHint.hidden = s.run === 'not-started';
    setText(this.pause, s.run === 'running' ? 'Pause' : 'Resume');
    // Resume is the one thing to do when paused: the primary style then.
    this.pause.classList.toggle('secondary', s.run === 'running' || s.run === 'not-started');

    const t = p.currentLease;
    this.#task.dataset.leaseId = t?.leaseId ?? '';
    if (!t) {
      setText(
        this.#taskLine,
        s.run === 'paused' ? 'None: paused.' : p.tasksDone + p.failures === 0 ? 'None yet.' : 'None: waiting for the next one.',
      );
      setText(this.#stage, '');
      this.#progress.value = 0;
      this.#progressRow.hidden = true;
      return;
    }
    this.#progressRow.hidden = false;
    const retry = t.attempt > 1 ? ` · attempt ${t.attempt}` : '';
    const renditions = t.rungs.map((r) => r.rendition).join(', ');
    setText(this.#taskLine, `Chunk ${t.chunk} of job ${t.jobId.slice(0, 8)} → ${renditions}${retry}`);
    setText(this.#stage, stageText(t, Date.now()));
    this.#progress.value = t.progress;
  }

  /** Threads 2–4 need the multi-thread core, which needs a cross-origin isolated page. */
  setThreadChoices(isolated: boolean, cores: number, chosen: number): void {
    for (const o of Array.from(this.threads.options)) o.disabled = Number(o.value) > 1 && !isolated;
    this.threads.value = String(chosen);
    setText(
      this.threadsHint,
      isolated
        ? `This computer reports ${cores} CPU threads. More encoder threads finish each piece sooner and use more of your CPU; a change applies from the next piece.`
        : '2–4 threads need the multi-thread encoder, which browsers only allow on a cross-origin isolated page (COOP and COEP headers). This server does not send them, so the single-thread encoder is used.',
    );
  }

  /** How many tabs of this page the computer should run (tab-advice.ts). */
  setTabAdvice(text: string): void {
    setText(this.#tabsHint, text);
  }

  log(level: 'info' | 'warn' | 'error', message: string): void {
    const li = document.createElement('li');
    li.className = level;
    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString();
    li.append(time, message);
    const atBottom = this.#log.scrollTop + this.#log.clientHeight >= this.#log.scrollHeight - 4;
    this.#log.append(li);
    while (this.#log.childElementCount > LOG_MAX) this.#log.firstElementChild?.remove();
    if (atBottom) this.#log.scrollTop = this.#log.scrollHeight; // do not yank someone who scrolled up to read
  }
}
