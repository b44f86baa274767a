/**
 * Runs the coordinator's assignments, one at a time: GET the chunk
 * (presigned), transcode, PUT the segment (presigned), report size + sha256,
 * then hold the lease until the coordinator gives a verdict. No DOM: fetch,
 * the transcoder and `send` are injected, so the whole flow runs under
 * Vitest in Node.
 *
 * What ends a task, and what does not:
 * - a `revoke` or an `error lease_lost` for it ends it (the coordinator took
 *   the lease back: no `fail`, not our failure);
 * - a dropped connection does not: the work goes on, heartbeats sent while
 *   disconnected are dropped, and the next hello carries `resume` (see
 *   resumeLease()) so the coordinator keeps the lease;
 * - `result { retry: true }` or `error unavailable` in reply to `complete`
 *   does not either: the coordinator could not check the segment now, so we
 *   keep the lease and the result and send the same `complete` again after a
 *   backoff, taking no new work meanwhile.
 */
import type { AssignMessage, CompleteMessage, ErrorMessage, FailMessage, ResultMessage, RevokeMessage } from '@tabgrid/shared';
import {
  completeRetryDelay,
  sha256Hex,
  type CurrentTask,
  type RunnerDeps,
  type RunnerStatus,
  type Stage,
  type TranscodeTiming,
} from './task-model.js';
import { TaskFailure, download, upload } from './transfer.js';
import { isTranscodeError } from './transcoder/types.js';

export * from './task-model.js';

const REASON_MAX = 2000;
const RECENT_MAX = 5;
/** Sending `fail` again after `unavailable`: a few tries; after that the lease simply expires. */
const FAIL_TRIES = 5;

type Completion = Omit<CompleteMessage, 'type' | 'id'> & { tries: number; inFlight: string | null; timer?: ReturnType<typeof setTimeout> };
type ActiveTask = CurrentTask & {
  readonly token: string;
  readonly controller: AbortController;
  /** Ids of every message sent for this lease, so replies can be matched to it. */
  readonly sentIds: Set<string>;
  completion?: Completion;
};

export class TaskRunner {
  readonly #deps: RunnerDeps;
  #current: ActiveTask | null = null;
  #stopReason: string | null = null;
  /** complete ids of leases we gave up on (revoked while checking): a late `accepted` still counts. */
  readonly #orphans = new Set<string>();
  readonly #fails = new Map<string, { msg: Omit<FailMessage, 'id'>; tries: number }>();
  #done = 0;
  #failures = 0;
  #lastError: string | null = null;
  #recent: TranscodeTiming[] = [];
  #encodeMsTotal = 0;
  #running: Promise<void> = Promise.resolve();

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
  }

  status(): RunnerStatus {
    const c = this.#current;
    const current = c && {
      leaseId: c.leaseId,
      jobId: c.jobId,
      chunk: c.chunk,
      rendition: c.rendition,
      attempt: c.attempt,
      stage: c.stage,
      progress: c.progress,
      frames: c.frames,
      totalFrames: c.totalFrames,
      startedAt: c.startedAt,
      retryAt: c.retryAt,
    };
    return {
      current,
      done: this.#done,
      failures: this.#failures,
      lastError: this.#lastError,
      recent: [...this.#recent],
      encodeMsTotal: this.#encodeMsTotal,
    };
  }

  /** Holding a lease: working on it or waiting for its verdict. */
  get busy(): boolean {
    return this.#current !== null;
  }

  /** What the next hello must carry so the coordinator keeps our lease. */
  resumeLease(): { leaseId: string; token: string } | undefined {
    const c = this.#current;
    return c ? { leaseId: c.leaseId, token: c.token } : undefined;
  }

  /** Resolves when the current task's work (download, transcode, upload) has ended; for tests. */
  idle(): Promise<void> {
    return this.#running;
  }

  handleAssign(msg: AssignMessage): void {
    if (this.#current) {
      this.#log('warn', `refused lease ${msg.leaseId}: busy with ${this.#current.leaseId}`);
      this.#deps.send({ type: 'fail', leaseId: msg.leaseId, token: msg.token, reason: 'busy' }, { queue: true });
      return;
    }
    this.#running = this.#run(msg);
  }

  /** A new session with the coordinator: a `complete` it has not answered goes again (the answer may have been lost with the old one). */
  handleWelcome(): void {
    if (this.#current?.completion) this.#sendComplete(this.#current);
  }

  handleRevoke(msg: RevokeMessage): void {
    if (this.#current?.leaseId === msg.leaseId) this.#stop(`revoked: ${msg.reason}`);
    else this.#log('info', `revoke for lease ${msg.leaseId}, which this tab is not working on`);
  }

  handleResult(msg: ResultMessage): void {
    const c = this.#current;
    if (!c?.completion || c.leaseId !== msg.leaseId || !c.sentIds.has(msg.replyTo)) {
      if (this.#orphans.delete(msg.replyTo) && msg.accepted) {
        this.#done++;
        this.#log('info', `lease ${msg.leaseId}: the segment was accepted after all`);
        this.#changed();
      } else this.#log('warn', `result for lease ${msg.leaseId}, which this tab is not waiting on`);
      return;
    }
    if (msg.retry) {
      this.#retryComplete(c, `the coordinator could not check the segment now (${msg.reason ?? 'no reason given'})`);
      return;
    }
    if (msg.accepted) this.#done++;
    else {
      this.#failures++;
      this.#lastError = `segment rejected: ${msg.reason ?? 'no reason given'}`;
      this.#log('error', `coordinator rejected the segment of lease ${msg.leaseId}: ${msg.reason ?? 'no reason given'}`);
    }
    this.#settle(c);
  }

  handleError(msg: ErrorMessage): void {
    const c = this.#current;
    const replyTo = msg.replyTo;
    const pendingFail = replyTo === undefined ? undefined : this.#fails.get(replyTo);
    if (pendingFail && replyTo !== undefined) {
      this.#fails.delete(replyTo);
      if (msg.code === 'unavailable' && pendingFail.tries < FAIL_TRIES) {
        const delay = completeRetryDelay(pendingFail.tries, this.#deps.heartbeatIntervalMs(), this.#deps.random);
        this.#log(
          'warn',
          `the coordinator could not record the failure of lease ${pendingFail.msg.leaseId} now; again in ${Math.round(delay / 1000)} s`,
        );
        setTimeout(() => this.#sendFail(pendingFail.msg, pendingFail.tries + 1), delay);
      }
      return;
    }
    if (!c || replyTo === undefined || !c.sentIds.has(replyTo)) {
      this.#log(msg.code === 'unavailable' ? 'warn' : 'error', `coordinator error ${msg.code}: ${msg.message}`);
      return;
    }
    if (msg.code === 'lease_lost') this.#stop(`lease lost: ${msg.message}`);
    else if (msg.code === 'unavailable' && c.completion?.inFlight === replyTo) this.#retryComplete(c, msg.message);
    else if (msg.code === 'unavailable')
      this.#log('warn', `the coordinator could not take a heartbeat now; the next one goes as usual (${msg.message})`);
    else this.#log('error', `coordinator error ${msg.code}: ${msg.message}`);
  }

  /** Ends the current task without sending fail (the coordinator took the lease back). */
  #stop(reason: string): void {
    const c = this.#current;
    if (!c) return;
    if (c.completion) {
      if (c.completion.inFlight) {
        this.#orphans.add(c.completion.inFlight);
        if (this.#orphans.size > 16) this.#orphans.delete(this.#orphans.values().next().value!);
      }
      this.#log('warn', `lease ${c.leaseId} stopped while its segment waited for a verdict: ${reason}`);
      this.#settle(c);
      return;
    }
    this.#stopReason = reason;
    c.controller.abort();
  }

  #settle(c: ActiveTask): void {
    clearTimeout(c.completion?.timer);
    if (this.#current === c) this.#current = null;
    this.#changed();
  }

  #sendComplete(c: ActiveTask): void {
    const k = c.completion!;
    clearTimeout(k.timer);
    c.retryAt = undefined;
    const id = this.#deps.send({
      type: 'complete',
      leaseId: k.leaseId,
      token: k.token,
      size: k.size,
      sha256: k.sha256,
      encodeMs: k.encodeMs,
    });
    k.inFlight = id;
    if (id) c.sentIds.add(id);
    // Not connected: handleWelcome() sends it.
    this.#changed();
  }

  #retryComplete(c: ActiveTask, why: string): void {
    const k = c.completion!;
    const delay = completeRetryDelay(k.tries++, this.#deps.heartbeatIntervalMs(), this.#deps.random);
    k.inFlight = null;
    clearTimeout(k.timer);
    k.timer = setTimeout(() => this.#sendComplete(c), delay);
    c.retryAt = Date.now() + delay;
    this.#log('warn', `lease ${c.leaseId}: ${why}; keeping the segment and sending complete again in ${(delay / 1000).toFixed(1)} s`);
    this.#changed();
  }

  #sendFail(msg: Omit<FailMessage, 'id'>, tries: number): string | null {
    const id = this.#deps.send(msg, { queue: true });
    if (id) {
      this.#fails.set(id, { msg, tries });
      if (this.#fails.size > 16) this.#fails.delete(this.#fails.keys().next().value!);
    }
    return id;
  }

  async #run(msg: AssignMessage): Promise<void> {
    const controller = new AbortController();
    const task: ActiveTask = {
      leaseId: msg.leaseId,
      token: msg.token,
      jobId: msg.jobId,
      chunk: msg.chunk,
      rendition: msg.params.rendition,
      attempt: msg.attempt,
      stage: 'downloading',
      progress: 0,
      totalFrames: msg.params.frames,
      startedAt: Date.now(),
      controller,
      sentIds: new Set(),
    };
    this.#current = task;
    this.#stopReason = null;
    let beat: ReturnType<typeof setTimeout> | undefined;
    const heartbeat = () => {
      if (task.stage === 'checking') return;
      const id = this.#deps.send({
        type: 'heartbeat',
        leaseId: task.leaseId,
        token: task.token,
        progress: task.progress,
        stage: task.stage,
        ...(task.frames === undefined ? {} : { frames: task.frames }),
      });
      if (id) task.sentIds.add(id);
      beat = setTimeout(heartbeat, this.#deps.heartbeatIntervalMs());
    };
    const update = (stage: Stage, progress: number, frames?: number) => {
      task.stage = stage;
      task.progress = Math.min(1, Math.max(task.progress, progress));
      if (frames !== undefined) task.frames = frames;
      this.#changed();
    };
    const { signal } = controller;
    const transfer = {
      signal,
      ...(this.#deps.fetch ? { fetch: this.#deps.fetch } : {}),
      ...(this.#deps.transferRetryDelaysMs ? { retryDelaysMs: this.#deps.transferRetryDelaysMs } : {}),
      onRetry: (what: string, error: string, delay: number) =>
        this.#log('warn', `lease ${task.leaseId}: ${error}; ${what} again in ${delay / 1000} s`),
    };
    this.#changed();
    heartbeat();
    try {
      const input = await download(msg.input.url, msg.input.size, transfer, (n) => update('downloading', (0.1 * n) / msg.input.size));
      update('transcoding', 0.1);
      const t0 = performance.now();
      let inputFps: number | undefined;
      const [segment] = await this.#deps
        .transcoder()
        .transcode(input, [msg.params], {
          signal,
          onProgress: (p) => {
            inputFps = p.inputFps ?? inputFps;
            update('transcoding', 0.1 + 0.8 * p.ratio, p.frames);
          },
        })
        .catch((e: unknown) => {
          throw new TaskFailure(isTranscodeError(e) ? `${e.code}: ${e.message}` : String(e), { cause: e });
        });
      const encodeMs = Math.round(performance.now() - t0);
      this.#recordTiming({ frames: msg.params.frames, encodeMs, ...(inputFps ? { mediaSeconds: msg.params.frames / inputFps } : {}) });
      update('uploading', 0.9);
      const bytes = new Uint8Array(segment!); // own ArrayBuffer: what fetch and digest accept
      const sha256 = await sha256Hex(bytes);
      await upload(msg.output.url, bytes, transfer);
      signal.throwIfAborted(); // revoked while hashing or after the PUT: no complete
      update('uploading', 1);
      clearTimeout(beat);
      task.stage = 'checking';
      task.completion = { leaseId: task.leaseId, token: task.token, size: bytes.byteLength, sha256, encodeMs, tries: 0, inFlight: null };
      this.#log('info', `lease ${task.leaseId}: uploaded ${bytes.byteLength} bytes, encode ${encodeMs} ms`);
      this.#sendComplete(task);
    } catch (e) {
      clearTimeout(beat);
      if (this.#stopReason !== null) {
        this.#log('warn', `lease ${task.leaseId} stopped: ${this.#stopReason}`);
      } else {
        const detail = e instanceof Error ? e.message : String(e);
        const reason = `${task.stage}: ${detail}`.slice(0, REASON_MAX);
        this.#sendFail({ type: 'fail', leaseId: task.leaseId, token: task.token, reason }, 0);
        this.#failures++;
        this.#lastError = reason;
        this.#log('error', `lease ${task.leaseId} failed: ${reason}`);
      }
      this.#settle(task);
    } finally {
      clearTimeout(beat);
    }
  }

  #recordTiming(t: TranscodeTiming): void {
    this.#encodeMsTotal += t.encodeMs;
    this.#recent = [...this.#recent, t].slice(-RECENT_MAX);
  }

  #changed(): void {
    this.#deps.onChange?.(this.status());
  }

  #log(level: 'info' | 'warn' | 'error', message: string): void {
    this.#deps.log?.(level, message);
  }
}
