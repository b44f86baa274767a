/**
 * One contributor session: load the encoder, connect, run tasks, pause and
 * resume, change the thread count. No DOM: the socket, fetch, the
 * transcoder, the identity and what the machine is (cores, user agent) are
 * all injected, so the page (main.ts) and the native worker
 * (native-worker/) run this very session; the page renders status() and
 * calls these methods; tests drive it with a fake socket and transcoder.
 *
 * Pause means "finish the current task, then take no more": the lease in
 * hand is worth finishing (abandoning it would waste the work and, after a
 * few, get the tab quarantined), and a paused tab closes its WebSocket once
 * it holds nothing, so the coordinator hands it nothing while paused.
 */
import { backoffDelay, type BackoffPolicy, type Capabilities } from '@tabgrid/shared';
import { Connection, type ConnectionOptions, type ConnectionState, type LogFn } from './connection.js';
import type { WorkerIdentity } from './identity.js';
import { TaskRunner, type RunnerStatus } from './task-runner.js';
import type { Transcoder } from './transcoder/types.js';

export type EncoderState = 'not-loaded' | 'loading' | 'loaded' | 'failed';
/** `pausing`: asked to pause, finishing the task in hand. */
export type RunState = 'not-started' | 'running' | 'pausing' | 'paused';

/** Retrying a failed encoder load: 5 s, 10 s, 20 s … up to 2 min, equal jitter. */
const ENCODER_LOAD_BACKOFF: BackoffPolicy = { initialMs: 5000, maxMs: 120_000, jitter: 'equal' };

export interface SessionDeps {
  readonly wsUrl: string;
  /** Who the coordinator says this worker is (identity.ts): presented in hello, updated by every welcome. */
  readonly identity: Promise<WorkerIdentity>;
  readonly createTranscoder: (threads: number) => Transcoder;
  readonly threads: number;
  readonly createSocket: ConnectionOptions['createSocket'];
  readonly fetch?: typeof fetch;
  /** What hello reports of the machine: navigator's in a tab, os's under Node. */
  readonly platform: { readonly hardwareConcurrency: number; readonly userAgent?: string };
  /** Shown in the dashboard's worker list (hello `name`, at most 80 characters). */
  readonly name?: string;
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
  #quit = false;

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
        return {
          capabilities: this.#capabilities(),
          ...(this.#deps.name ? { name: this.#deps.name.slice(0, 80) } : {}),
          ...(credential ? { credential } : {}),
          ...(resume ? { resume } : {}),
        };
      },
      createSocket: this.#deps.createSocket,
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
    if (this.#quit || (this.#run !== 'paused' && this.#run !== 'pausing')) return;
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

  /**
   * Stop now, for good (the native worker's second Ctrl-C, or its stop
   * deadline): the task in hand is abandoned without `fail` (its encoder is
   * aborted) and the socket closed with 1000, which the coordinator takes as
   * "not coming back": it hands the lease on at once and blames nobody.
   * pause() is the patient stop; this one does not wait for the task.
   */
  quit(reason: string): void {
    this.#quit = true;
    this.#runner?.abandon(reason);
    this.#connection?.stop(reason);
    this.#transcoder.dispose();
    if (this.#run !== 'not-started') this.#run = 'paused';
    this.#changed();
  }

  /** Resolves once the task in hand (download, transcode, upload) has ended: after quit(), its encoder has stopped. */
  idle(): Promise<void> {
    return this.#runner?.idle() ?? Promise.resolve();
  }

  #applyVisibility(): void {
    if (this.#pauseWhenHidden && this.#hidden && this.#run === 'running') this.pause('hidden');
    else if ((!this.#pauseWhenHidden || !this.#hidden) && this.#pausedBy === 'hidden') this.resume();
  }

  #afterRunnerChange(): void {
    // Between batches, not only when idle: a tab that takes the next chunk while uploading is rarely idle.
    if (!this.#runner?.encoding) this.#swapTranscoder();
    // Paused once every segment in hand is uploaded and reported, without waiting for the verdicts: the
    // coordinator counts a tab whose segments are being checked as free for the next chunk, so a tab
    // that waited would be handed new work for as long as the job lasts. The checks go on without us.
    if (this.#run === 'pausing' && !this.#runner?.working) {
      this.#run = 'paused';
      this.#runner?.forgetVerdicts();
      // Nothing left to do: closing (1000) releases nothing and stops assignments until resume.
      this.#connection?.stop('paused');
      this.#deps.log('info', 'paused');
    }
    this.#changed();
  }

  /** Connects when running with the encoder loaded (Connection.start() is a no-op when already connected). */
  #maybeConnect(): void {
    if (this.#quit) return;
    if (this.#run === 'running' && this.#encoderState === 'loaded') this.#connection?.start();
  }

  #swapTranscoder(): void {
    const threads = this.#pendingThreads;
    if (threads === null || this.#runner?.encoding || this.#quit) return;
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
    for (let attempt = 0; t === this.#transcoder && !this.#quit; attempt++) {
      this.#encoderState = 'loading';
      this.#changed();
      const t0 = performance.now();
      try {
        await t.load();
        if (t !== this.#transcoder) return;
        this.#encoderState = 'loaded';
        this.#deps.log(
          'info',
          `encoder loaded in ${Math.round(performance.now() - t0)} ms (${t.kind}, ${t.multiThread ? `multi-thread core, ${t.threads} threads` : t.threads === 1 ? 'one thread' : `${t.threads} threads`})`,
        );
        this.#maybeConnect();
        this.#changed();
        return;
      } catch (e) {
        if (t !== this.#transcoder || this.#quit) return;
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
    const { hardwareConcurrency, userAgent } = this.#deps.platform;
    return {
      encoders: [...(t.encoders ?? [t.kind])],
      threads: t.threads,
      maxRungs: t.maxRungs,
      wasmMultiThread: t.multiThread,
      hardwareConcurrency: Math.min(1024, Math.max(1, Math.floor(hardwareConcurrency) || 1)),
      ...(userAgent ? { userAgent: userAgent.slice(0, 512) } : {}),
    };
  }

  #changed(): void {
    this.#deps.onChange();
  }
}
