/**
 * Runs the coordinator's assignments, one at a time: GET the chunk
 * (presigned), transcode, PUT the segment (presigned), report
 * size + sha256. Heartbeats go out from the moment of assignment until
 * complete/fail. No DOM: fetch, the transcoder and `send` are injected, so
 * the whole flow runs under Vitest in Node.
 */
import type { AssignMessage, ErrorMessage, HeartbeatMessage, ResultMessage, RevokeMessage } from '@tabgrid/shared';
import type { LogFn, OutgoingMessage } from './connection.js';
import { isTranscodeError, type Transcoder } from './transcoder/types.js';

export type Stage = HeartbeatMessage['stage'];

export interface CurrentTask {
  readonly leaseId: string;
  readonly jobId: string;
  readonly chunk: number;
  readonly rendition: string;
  readonly attempt: number;
  stage: Stage;
  /** Whole task, 0..1: download is the first 10 %, transcode the next 80 %, upload the last 10 %. */
  progress: number;
  frames?: number;
  readonly startedAt: number;
}

export interface RunnerStatus {
  readonly current: Readonly<CurrentTask> | null;
  /** Segments the coordinator accepted. */
  readonly done: number;
  /** Tasks we failed, plus segments the coordinator rejected. */
  readonly failures: number;
  readonly lastError: string | null;
}

export interface RunnerDeps {
  readonly transcoder: Transcoder;
  readonly send: (msg: OutgoingMessage, opts?: { queue?: boolean }) => string | null;
  /** Read at every beat, so a new welcome's interval applies at once. */
  readonly heartbeatIntervalMs: () => number;
  readonly fetch?: typeof fetch;
  readonly onChange?: (s: RunnerStatus) => void;
  readonly log?: LogFn;
}

/** A server-declared chunk size beyond this is a bug, not a chunk: refuse it rather than allocate it. */
const MAX_CHUNK_BYTES = 1024 ** 3;
const REASON_MAX = 2000;

class TaskFailure extends Error {}

type ActiveTask = CurrentTask & { readonly token: string; readonly controller: AbortController; readonly sentIds: Set<string> };

export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function bodySnippet(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

export class TaskRunner {
  readonly #deps: RunnerDeps;
  #current: ActiveTask | null = null;
  #stopReason: string | null = null;
  #awaitingResult = new Set<string>();
  #done = 0;
  #failures = 0;
  #lastError: string | null = null;
  #running: Promise<void> = Promise.resolve();

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
  }

  status(): RunnerStatus {
    const c = this.#current;
    const current = c && { leaseId: c.leaseId, jobId: c.jobId, chunk: c.chunk, rendition: c.rendition, attempt: c.attempt, stage: c.stage, progress: c.progress, frames: c.frames, startedAt: c.startedAt };
    return { current, done: this.#done, failures: this.#failures, lastError: this.#lastError };
  }

  /** Resolves when the current task (if any) has finished; for tests and shutdown. */
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

  handleRevoke(msg: RevokeMessage): void {
    if (this.#current?.leaseId === msg.leaseId) this.#stop(`revoked: ${msg.reason}`);
    else this.#log('info', `revoke for lease ${msg.leaseId}, which this tab is not working on`);
  }

  handleResult(msg: ResultMessage): void {
    if (!this.#awaitingResult.delete(msg.leaseId)) {
      this.#log('warn', `result for unknown lease ${msg.leaseId}`);
      return;
    }
    if (msg.accepted) this.#done++;
    else {
      this.#failures++;
      this.#lastError = `segment rejected: ${msg.reason ?? 'no reason given'}`;
      this.#log('error', `coordinator rejected the segment of lease ${msg.leaseId}: ${msg.reason ?? 'no reason given'}`);
    }
    this.#changed();
  }

  handleError(msg: ErrorMessage): void {
    const c = this.#current;
    if (msg.code === 'lease_lost' && c && msg.replyTo !== undefined && c.sentIds.has(msg.replyTo)) {
      this.#stop(`lease lost: ${msg.message}`);
      return;
    }
    this.#log('error', `coordinator error ${msg.code}: ${msg.message}`);
  }

  /** Gives the current lease back at once (the tab is closing): fail now, synchronously, then stop. */
  abandon(reason: string): void {
    const c = this.#current;
    if (!c) return;
    const id = this.#deps.send({ type: 'fail', leaseId: c.leaseId, token: c.token, reason });
    if (id) c.sentIds.add(id);
    this.#stop(reason);
  }

  /** Aborts the current task without sending fail (the coordinator already took the lease back). */
  #stop(reason: string): void {
    this.#stopReason = reason;
    this.#current?.controller.abort();
  }

  async #run(msg: AssignMessage): Promise<void> {
    const controller = new AbortController();
    const task: ActiveTask = {
      leaseId: msg.leaseId, token: msg.token, jobId: msg.jobId, chunk: msg.chunk, rendition: msg.params.rendition,
      attempt: msg.attempt, stage: 'downloading', progress: 0, startedAt: Date.now(), controller, sentIds: new Set(),
    };
    this.#current = task;
    this.#stopReason = null;
    const send = (m: OutgoingMessage, queue = false) => {
      const id = this.#deps.send(m, { queue });
      if (id) task.sentIds.add(id);
    };
    let beat: ReturnType<typeof setTimeout> | undefined;
    const heartbeat = () => {
      send({ type: 'heartbeat', leaseId: task.leaseId, token: task.token, progress: task.progress, stage: task.stage, ...(task.frames === undefined ? {} : { frames: task.frames }) });
      beat = setTimeout(heartbeat, this.#deps.heartbeatIntervalMs());
    };
    const update = (stage: Stage, progress: number, frames?: number) => {
      task.stage = stage;
      task.progress = Math.min(1, Math.max(task.progress, progress));
      if (frames !== undefined) task.frames = frames;
      this.#changed();
    };
    this.#changed();
    heartbeat();
    try {
      const { signal } = controller;
      const input = await this.#download(msg.input.url, msg.input.size, signal, (n) => update('downloading', (0.1 * n) / msg.input.size));
      update('transcoding', 0.1);
      const t0 = performance.now();
      const segment = await this.#deps.transcoder
        .transcode(input, msg.params, { signal, onProgress: (p) => update('transcoding', 0.1 + 0.8 * p.ratio, p.frames) })
        .catch((e: unknown) => {
          throw new TaskFailure(isTranscodeError(e) ? `${e.code}: ${e.message}` : String(e), { cause: e });
        });
      const encodeMs = Math.round(performance.now() - t0);
      update('uploading', 0.9);
      const bytes = new Uint8Array(segment); // own ArrayBuffer: what fetch and digest accept
      const sha256 = await sha256Hex(bytes);
      await this.#upload(msg.output.url, bytes, signal);
      signal.throwIfAborted(); // revoked while hashing or after the PUT: no complete
      update('uploading', 1);
      clearTimeout(beat);
      send({ type: 'complete', leaseId: task.leaseId, token: task.token, size: bytes.byteLength, sha256, encodeMs }, true);
      this.#awaitingResult.add(task.leaseId);
      this.#log('info', `lease ${task.leaseId}: uploaded ${bytes.byteLength} bytes, encode ${encodeMs} ms`);
    } catch (e) {
      clearTimeout(beat);
      if (this.#stopReason !== null) {
        this.#log('warn', `lease ${task.leaseId} stopped: ${this.#stopReason}`);
      } else {
        const detail = e instanceof Error ? e.message : String(e);
        const reason = `${task.stage}: ${detail}`.slice(0, REASON_MAX);
        send({ type: 'fail', leaseId: task.leaseId, token: task.token, reason }, true);
        this.#failures++;
        this.#lastError = reason;
        this.#log('error', `lease ${task.leaseId} failed: ${reason}`);
      }
    } finally {
      clearTimeout(beat);
      this.#current = null;
      this.#changed();
    }
  }

  async #download(url: string, size: number, signal: AbortSignal, onBytes: (n: number) => void): Promise<Uint8Array> {
    if (size > MAX_CHUNK_BYTES) throw new TaskFailure(`chunk size ${size} exceeds ${MAX_CHUNK_BYTES} bytes`);
    const res = await (this.#deps.fetch ?? fetch)(url, { signal }).catch((e: unknown) => {
      throw new TaskFailure(`GET chunk failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    });
    if (!res.ok) throw new TaskFailure(`GET chunk: HTTP ${res.status} ${await bodySnippet(res)}`.trim());
    const out = new Uint8Array(size);
    let n = 0;
    const reader = res.body?.getReader();
    if (!reader) throw new TaskFailure('GET chunk: response has no body');
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.byteLength > size) {
        await reader.cancel();
        throw new TaskFailure(`GET chunk: more than the announced ${size} bytes`);
      }
      out.set(value, n);
      n += value.byteLength;
      onBytes(n);
    }
    if (n !== size) throw new TaskFailure(`GET chunk: got ${n} bytes, expected ${size}`);
    return out;
  }

  async #upload(url: string, bytes: Uint8Array<ArrayBuffer>, signal: AbortSignal): Promise<void> {
    const res = await (this.#deps.fetch ?? fetch)(url, {
      method: 'PUT',
      body: bytes,
      headers: { 'Content-Type': 'video/mp4' },
      signal,
    }).catch((e: unknown) => {
      throw new TaskFailure(`PUT segment failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    });
    if (!res.ok) throw new TaskFailure(`PUT segment: HTTP ${res.status} ${await bodySnippet(res)}`.trim());
  }

  #changed(): void {
    this.#deps.onChange?.(this.status());
  }

  #log(level: 'info' | 'warn' | 'error', message: string): void {
    this.#deps.log?.(level, message);
  }
}
