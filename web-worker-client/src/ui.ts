/** Renders the page's status; the markup (and its data-testid hooks) lives in index.html. */
import type { ConnectionState } from './connection.js';
import type { CurrentTask } from './task-runner.js';

export type EncoderState = 'not-loaded' | 'loading' | 'loaded' | 'failed';

/** What window.__tabgrid.status() returns; automated tests rely on this shape. */
export interface PageStatus {
  readonly connection: ConnectionState;
  readonly workerId: string | null;
  readonly encoder: { readonly kind: string; readonly threads: number; readonly multiThread: boolean; readonly state: EncoderState };
  readonly tasksDone: number;
  readonly failures: number;
  readonly currentLease: Omit<CurrentTask, 'startedAt'> | null;
  readonly lastError: string | null;
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

export class PageView {
  readonly #connection = el('connection-state');
  readonly #encoder = el('encoder-state');
  readonly #done = el('tasks-done');
  readonly #failures = el('failures');
  readonly #task = el('current-task');
  readonly #taskLine = el('task-line');
  readonly #progress = el<HTMLProgressElement>('task-progress');
  readonly #log = el<HTMLOListElement>('log');
  readonly #workerId = el('worker-id');
  readonly start = el<HTMLButtonElement>('start');

  render(s: PageStatus, connectionDetail?: string): void {
    this.#connection.dataset.state = s.connection;
    setText(this.#connection, connectionDetail ? `${s.connection} (${connectionDetail})` : s.connection);
    this.#encoder.dataset.state = s.encoder.state;
    const threads = s.encoder.multiThread ? `, ${s.encoder.threads} threads` : '';
    setText(this.#encoder, `${ENCODER_TEXT[s.encoder.state]}${s.encoder.state === 'loaded' ? ` (x264${threads})` : ''}`);
    setText(this.#done, String(s.tasksDone));
    setText(this.#failures, String(s.failures));
    setText(this.#workerId, s.workerId ?? '…');
    const t = s.currentLease;
    this.#task.dataset.leaseId = t?.leaseId ?? '';
    if (!t) {
      setText(this.#taskLine, 'idle — waiting for work');
      this.#progress.value = 0;
      return;
    }
    const frames = t.frames === undefined ? '' : ` · frame ${t.frames}`;
    const retry = t.attempt > 1 ? ` · attempt ${t.attempt}` : '';
    setText(this.#taskLine, `job ${t.jobId.slice(0, 8)} · chunk ${t.chunk} · ${t.rendition} · ${t.stage}${frames} · ${Math.round(t.progress * 100)} %${retry}`);
    this.#progress.value = t.progress;
  }

  log(level: 'info' | 'warn' | 'error', message: string): void {
    const li = document.createElement('li');
    li.className = level;
    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString();
    li.append(time, message);
    this.#log.append(li);
    while (this.#log.childElementCount > LOG_MAX) this.#log.firstElementChild?.remove();
    this.#log.scrollTop = this.#log.scrollHeight;
  }
}
