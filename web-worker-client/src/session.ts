/**
 * One contributor session: load the encoder, connect, run tasks, pause and
 * resume, change the thread count. No DOM: the page (main.ts) renders
 * status() and calls these methods; tests drive it with a fake socket and
 * transcoder.
 *
 * Pause means "finish the current task, then take no more": the lease in
 * hand is worth finishing (abandoning it would waste the work and, after a
 * few, get the tab quarantined), and a paused tab closes its WebSocket once
 * it holds nothing, so the coordinator hands it nothing while paused.
 */
import { backoffDelay, type BackoffPolicy, type Capabilities } from '@tabgrid/shared';
import { Connection, type ConnectionOptions, type ConnectionState, type LogFn } from './connection.js';
import { TaskRunner, type RunnerStatus } from './task-runner.js';
import type { Transcoder } from './transcoder/types.js';
import type { TabIdentity } from './worker-id.js';

export type EncoderState = 'not-loaded' | 'loading' | 'loaded' | 'failed';
/** `pausing`: asked to pause, finishing the task in hand. */
export type RunState = 'not-started' | 'running' | 'pausing' | 'paused';

/** Retrying a failed encoder load: 5 s, 10 s, 20 s … up to 2 min, equal jitter. */
const ENCODER_LOAD_BACKOFF: BackoffPolicy = { initialMs: 5000, maxMs: 120_000, jitter: 'equal' };

export interface SessionDeps {
  readonly wsUrl: string;
  /** Who the coordinator says this tab is (worker-id.ts): presented in hello, updated by every welcome. */
  readonly identity: Promise<TabIdentity>;
  readonly createTranscoder: (threads: number) => Transcoder;
  readonly threads: number;
  readonly createSocket?: ConnectionOptions['createSocket'];
  readonly fetch?: typeof fetch;
  readonly log: LogFn;
  readonly onChange: () => void;
}

export interface SessionStatus {
  readonly run: RunState;
  /** Why it is paused or pausing: the user's button, or the tab being hidden. */
  readonly pausedBy: 'user' | 'hidden' | null;
  readonly connection: ConnectionState;
  readonly connectionDetail: string | undefined;
  readonly encoder: {
    readonly kind: string;
    /** Every kind reported in hello (x264 first; WebCodecs when the browser has it). */
    readonly kinds: readonly string[];
    readonly threads: number;
    readonly multiThread: boolean;
    readonly state: EncoderState;
  };
  /** A thread count chosen while busy, applied after the current task. */
  readonly pendingThreads: number | null;
  readonly runner: RunnerStatus | null;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Session {
  readonly #deps: SessionDeps;
  #transcoder: Transcoder;
  #pendingThreads: number | null = null;
  #encoderState: EncoderState = 'not-loaded';
  #connection: Connection | null = null;
  #connectionDetail: string | undefined;
  #runner: TaskRunner | null = null;
  #run: RunState = 'not-started';
  #pausedBy: 'user' | 'hidden' | null = null;
  #pauseWhenHidden = false;
  #hidden = false;

  constructor(deps: SessionDeps) {
    this.#deps = deps;
    this.#transcoder = deps.createTranscoder(deps.threads);
  }

  status(): SessionStatus {
    const t = this.#transcoder;
    // The transcoder restarts ffmpeg after a stall: loaded → loading without an event of ours.
    const state = this.#encoderState === 'loaded' && !t.loaded ? 'loading' : this.#encoderState;
    return {
      run: this.#run,
      pausedBy: this.#pausedBy,
      connection: this.#connection?.state ?? 'idle',
      connectionDetail: this.#connectionDetail,
      encoder: { kind: t.kind, kinds: [...(t.encoders ?? [t.kind])], threads: t.threads, multiThread: t.multiThread, state },
      pendingThreads: this.#pendingThreads,
      runner: this.#runner?.status() ?? null,
    };
  }

  async start(): Promise<void> {
    if (this.#run !== 'not-started') return;
    this.#run = 'running';
    this.#changed();
    const identity = await this.#deps.identity;
    const conn = new Connection({
      url: this.#deps.wsUrl,
      hello: () => {
        const resume = this.#runner?.resumeLeases();
        const credential = identity.credential();
        return { capabilities: this.#capabilities(), ...(credential ? { credential } : {}), ...(resume ? { resume } : {}) };
      },
      ...(this.#deps.createSocket ? { createSocket: this.#deps.createSocket } : {}),
      log: this.#deps.log,
    });
    const runner = new TaskRunner({
      transcoder: () => this.#transcoder,
      // Pausing: finish what is in hand, but do not ask for the next chunk.
      acceptingWork: () => this.#run === 'running',
      send: (m, o) => conn.send(m, o),
      heartbeatIntervalMs: () => (conn.welcome?.heartbeatIntervalSeconds ?? 10) * 1000,
      ...(this.#deps.fetch ? { fetch: this.#deps.fetch } : {}),
      onChange: () => this.#afterRunnerChange(),
      log: this.#deps.log,
    });
    this.#connection = conn;
    this.#runner = runner;
    conn.on('welcome', (m) => {
      const before = identity.workerId();
      identity.remember({ workerId: m.workerId, credential: m.credential });
      if (before !== null && before !== m.workerId) {
        // Our credential did not verify (the coordinator's database was reset, or the page is from another grid).
        this.#deps.log('warn', `the coordinator did not recognise this tab as ${before}; it is now ${m.workerId}`);
      }
      this.#deps.log('info', `connected as ${m.workerId}; heartbeat every ${m.heartbeatIntervalSeconds} s`);
      runner.handleWelcome();
      this.#changed();
    });
    conn.on('assign', (m) => {
      const rungs = m.rungs.map((r) => (r.attempt > 1 ? `${r.params.rendition} (attempt ${r.attempt})` : r.params.rendition));
      this.#deps.log('info', `assigned job ${m.jobId.slice(0, 8)} chunk ${m.chunk}: ${rungs.join(', ')}`);
      runner.handleAssign(m);
    });
    conn.on('revoke', (m) => runner.handleRevoke(m));
    conn.on('result', (m) => runner.handleResult(m));
    conn.on('error', (m) => runner.handleError(m));
    conn.onState((_s, detail) => {
      this.#connectionDetail = detail;
      this.#changed();
    });
    this.#applyVisibility(); // "pause while hidden" may already apply
    // The encoder first: an assignment must not wait on a 32 MB download while its lease runs.
    await this.#loadEncoder();
  }

  /** Finish the task in hand, then take no more. */
  pause(by: 'user' | 'hidden' = 'user'): void {
    if (this.#run === 'not-started') return;
    if (this.#run === 'paused' || this.#run === 'pausing') {
      if (by === 'user') this.#pausedBy = 'user'; // the button outranks visibility: showing the tab will not resume
      return;
    }
    this.#pausedBy = by;
    this.#run = 'pausing';
    this.#deps.log(
      'info',
      by === 'user' ? 'pausing: finishing the current task, then taking no more' : 'tab hidden: pausing after the current task',
    );
    this.#afterRunnerChange();
  }

  resume(): void {
    if (this.#run !== 'paused' && this.#run !== 'pausing') return;
    this.#run = 'running';
    this.#pausedBy = null;
    this.#deps.log('info', 'resumed');
    this.#maybeConnect();
    this.#changed();
  }

  setPauseWhenHidden(on: boolean): void {
    this.#pauseWhenHidden = on;
    this.#applyVisibility();
  }

  setHidden(hidden: boolean): void {
    this.#hidden = hidden;
    this.#applyVisibility();
  }

  /** The thread count for the next task: now when idle, after the current task otherwise. */
  setThreads(threads: number): void {
    this.#pendingThreads = threads === this.#transcoder.threads ? null : threads;
    this.#swapTranscoder();
    this.#changed();
  }

  /** The page is going away; the browser closes the socket with 1001 (see Connection.leave). */
  leave(): void {
    this.#connection?.leave();
  }

  #applyVisibility(): void {
    if (this.#pauseWhenHidden && this.#hidden && this.#run === 'running') this.pause('hidden');
    else if ((!this.#pauseWhenHidden || !this.#hidden) && this.#pausedBy === 'hidden') this.resume();
  }

  #afterRunnerChange(): void {
    const busy = this.#runner?.busy ?? false;
    // Between batches, not only when idle: a tab that takes the next chunk while uploading is rarely idle.
    if (!this.#runner?.encoding) this.#swapTranscoder();
    if (this.#run === 'pausing' && !busy) {
      this.#run = 'paused';
      // Holding nothing: closing (1000) releases nothing and stops assignments until resume.
      this.#connection?.stop('paused');
      this.#deps.log('info', 'paused');
    }
    this.#changed();
  }

  /** Connects when running with the encoder loaded (Connection.start() is a no-op when already connected). */
  #maybeConnect(): void {
    if (this.#run === 'running' && this.#encoderState === 'loaded') this.#connection?.start();
  }

  #swapTranscoder(): void {
    const threads = this.#pendingThreads;
    if (threads === null || this.#runner?.encoding) return;
    this.#pendingThreads = null;
    this.#transcoder.dispose();
    this.#transcoder = this.#deps.createTranscoder(threads);
    this.#encoderState = 'not-loaded';
    this.#deps.log('info', `encoder: ${threads === 1 ? 'single-thread core' : `multi-thread core, ${threads} threads`} from the next task`);
    // The coordinator learns the new count at the next hello; it schedules without it today.
    if (this.#run !== 'not-started') void this.#loadEncoder();
  }

  async #loadEncoder(): Promise<void> {
    const t = this.#transcoder;
    for (let attempt = 0; t === this.#transcoder; attempt++) {
      this.#encoderState = 'loading';
      this.#changed();
      const t0 = performance.now();
      try {
        await t.load();
        if (t !== this.#transcoder) return;
        this.#encoderState = 'loaded';
        this.#deps.log(
          'info',
          `encoder loaded in ${Math.round(performance.now() - t0)} ms (${t.multiThread ? `multi-thread, ${t.threads} threads` : 'single-thread'})`,
        );
        this.#maybeConnect();
        this.#changed();
        return;
      } catch (e) {
        if (t !== this.#transcoder) return;
        this.#encoderState = 'failed';
        const delay = backoffDelay(attempt, ENCODER_LOAD_BACKOFF);
        this.#deps.log(
          'error',
          `encoder failed to load: ${e instanceof Error ? e.message : String(e)}; retrying in ${Math.round(delay / 1000)} s`,
        );
        this.#changed();
        await sleep(delay);
      }
    }
  }

  #capabilities(): Capabilities {
    const t = this.#transcoder;
    const nav = globalThis.navigator;
    return {
      encoders: [...(t.encoders ?? [t.kind])],
      threads: t.threads,
      maxRungs: t.maxRungs,
      wasmMultiThread: t.multiThread,
      hardwareConcurrency: Math.min(1024, Math.max(1, nav?.hardwareConcurrency || 1)),
      ...(nav?.userAgent ? { userAgent: nav.userAgent.slice(0, 512) } : {}),
    };
  }

  #changed(): void {
    this.#deps.onChange();
  }
}
