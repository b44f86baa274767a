/**
 * Runs the coordinator's assignments: GET the chunk (presigned), transcode
 * every rung from one decode, PUT each rung's segment (presigned), report
 * each one's size + sha256, then hold each lease until the coordinator gives
 * its verdict. No DOM: fetch, the transcoder and `send` are injected, so the
 * whole flow runs under Vitest in Node.
 *
 * One batch is in the encoder at a time. Shortly before it is encoded (when
 * the encode's own pace says it ends within the time the last prefetch took,
 * twice over) the runner asks for the next chunk in a heartbeat (`ready`),
 * downloads it meanwhile and encodes it as soon as the encoder is free,
 * while the previous segments upload and are checked: the encoder idles
 * neither through the download nor through the uploads and the
 * coordinator's checks. Each rung is its own lease from the assignment on:
 * it completes, fails or is taken back on its own.
 *
 * What ends a rung, and what does not:
 * - a `revoke` or an `error lease_lost` for it ends it (the coordinator took
 *   the lease back: no `fail`, not our failure); once every rung of the batch
 *   in the encoder is taken back, the transcode stops;
 * - a dropped connection does not: the work goes on, heartbeats sent while
 *   disconnected are dropped, and the next hello carries `resume` (see
 *   resumeLeases()) so the coordinator keeps the leases;
 * - `result { retry: true }` or `error unavailable` in reply to `complete`
 *   does not either: the coordinator could not check the segment now, so we
 *   keep the lease and the result and send the same `complete` again after a
 *   backoff.
 */
import {
  MAX_LEASES_HELD,
  type AssignMessage,
  type ErrorMessage,
  type LeaseRef,
  type ResultMessage,
  type RevokeMessage,
} from '@tabgrid/shared';
import { type Batch, batchOf, endsWithin, heldLeases, leadAfter, liveLeases, type Rung, summarize } from './batch.js';
import { completeRetryDelay, sha256Hex, type RunnerDeps, type RunnerStatus, type Stage, type TranscodeTiming } from './task-model.js';
import { FailSender } from './fail-sender.js';
import { TaskFailure, download, upload } from './transfer.js';
import { isTranscodeError } from './transcoder/types.js';

export * from './task-model.js';

const REASON_MAX = 2000;
const RECENT_MAX = 5;

export class TaskRunner {
  readonly #deps: RunnerDeps;
  /** Every batch held, oldest first. */
  #batches: Batch[] = [];
  /** The batch that has the encoder (downloading or transcoding). */
  #encoding: Batch | null = null;
  /** The next batch, assigned before the encoder was free: downloading, then waiting for its turn. */
  #next: Batch | null = null;
  /** How long before the end of an encode to ask for the next chunk (adapted to the measured prefetch latency). */
  #leadMs = 2000;
  /** Batches whose upload loop still runs (their rungs may all end before the loop does). */
  readonly #uploading = new Set<Batch>();
  /** complete ids of leases we gave up on (revoked while checking): a late `accepted` still counts. */
  readonly #orphans = new Set<string>();
  readonly #fails: FailSender;
  #done = 0;
  #failures = 0;
  #lastError: string | null = null;
  #recent: TranscodeTiming[] = [];
  #encodeMsTotal = 0;
  readonly #running = new Set<Promise<void>>();

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
    this.#fails = new FailSender({ ...deps, log: (level, message) => this.#log(level, message) });
  }

  status(): RunnerStatus {
    const shown = this.#encoding ?? this.#batches[0] ?? null;
    return {
      current: shown && summarize(shown),
      batches: this.#batches.length,
      done: this.#done,
      failures: this.#failures,
      lastError: this.#lastError,
      recent: [...this.#recent],
      encodeMsTotal: this.#encodeMsTotal,
    };
  }

  /** Holding a lease: working on it or waiting for its verdict. */
  get busy(): boolean {
    return this.#batches.length > 0;
  }

  /**
   * A lease still needs this tab: a rung downloading, encoding or uploading,
   * or one whose `complete` the coordinator asked to send again later. Rungs
   * that only wait for a verdict do not: the coordinator checks a completed
   * segment whether or not the tab stays (a pausing tab may close then).
   */
  get working(): boolean {
    return this.#batches.some((b) => b.rungs.some((r) => !r.ended && (!r.completion || r.retryAt !== undefined)));
  }

  /** A batch is downloading or in the encoder (the transcoder must not be swapped now). */
  get encoding(): boolean {
    return this.#encoding !== null;
  }

  /**
   * What the next hello must carry so the coordinator keeps our leases
   * (undefined: we hold none). The newest ones when there are more than a
   * hello may name: the coordinator's idle rule keeps an honest tab far
   * below that, and an older lease left out only expires.
   */
  resumeLeases(): LeaseRef[] | undefined {
    const held = this.#batches.flatMap(heldLeases).slice(-MAX_LEASES_HELD);
    return held.length > 0 ? held : undefined;
  }

  /** Resolves when the work (download, transcode, uploads) of every batch started so far has ended; for tests. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }

  handleAssign(msg: AssignMessage): void {
    const prefetch = this.#encoding !== null;
    if (prefetch && (this.#next !== null || this.#encoding!.askedAt === undefined)) {
      this.#log('warn', `refused chunk ${msg.chunk}: the encoder is busy with chunk ${this.#encoding!.chunk}`);
      for (const r of msg.rungs) this.#deps.send({ type: 'fail', leaseId: r.leaseId, token: r.token, reason: 'busy' }, { queue: true });
      return;
    }
    const batch = batchOf(msg, Date.now(), this.#encoding?.askedAt);
    this.#batches.push(batch);
    if (prefetch) this.#next = batch;
    else this.#encoding = batch;
    const run = this.#run(batch).finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  /**
   * A new session with the coordinator: a `complete` it has not answered goes
   * again (the answer may have been lost with the old one), and each batch
   * says at once where it is (the coordinator counts resumed leases as
   * encoding until told otherwise).
   */
  handleWelcome(): void {
    for (const b of this.#batches) {
      for (const r of b.rungs) if (!r.ended && r.completion) this.#sendComplete(r);
      this.#heartbeat(b);
    }
  }

  /**
   * Drops every lease in hand without `fail`, as revokes do: their work is
   * aborted (the transcode, the uploads), or their wait for a verdict ended.
   * For a worker that is going away and closes its socket cleanly right
   * after (Session.quit).
   */
  abandon(reason: string): void {
    for (const b of [...this.#batches]) for (const r of b.rungs) if (!r.ended) this.#takenBack(b, r, reason);
  }

  /**
   * Stops waiting for the verdicts of segments already reported: the
   * coordinator decides them without this tab (a pausing tab that closes).
   */
  forgetVerdicts(): void {
    for (const b of [...this.#batches]) for (const r of b.rungs) if (!r.ended && r.completion) this.#endRung(b, r);
  }

  handleRevoke(msg: RevokeMessage): void {
    const found = this.#find((r) => r.leaseId === msg.leaseId && !r.ended);
    if (found) this.#takenBack(found.batch, found.rung, `revoked: ${msg.reason}`);
    else this.#log('info', `revoke for lease ${msg.leaseId}, which this tab is not working on`);
  }

  handleResult(msg: ResultMessage): void {
    const found = this.#find((r) => !r.ended && r.completion !== undefined && r.leaseId === msg.leaseId && r.sentIds.has(msg.replyTo));
    if (!found) {
      if (this.#orphans.delete(msg.replyTo) && msg.accepted) {
        this.#done++;
        this.#log('info', `lease ${msg.leaseId}: the segment was accepted after all`);
        this.#changed();
      } else this.#log('warn', `result for lease ${msg.leaseId}, which this tab is not waiting on`);
      return;
    }
    const { batch, rung } = found;
    if (msg.retry) {
      this.#retryComplete(rung, `the coordinator could not check the segment now (${msg.reason ?? 'no reason given'})`);
      return;
    }
    if (msg.accepted) this.#done++;
    else {
      this.#failures++;
      this.#lastError = `segment rejected: ${msg.reason ?? 'no reason given'}`;
      this.#log('error', `coordinator rejected the segment of lease ${msg.leaseId}: ${msg.reason ?? 'no reason given'}`);
    }
    this.#endRung(batch, rung);
  }

  handleError(msg: ErrorMessage): void {
    if (this.#fails.handleError(msg)) return;
    const replyTo = msg.replyTo;
    const beaten = replyTo === undefined ? undefined : this.#batches.find((b) => b.heartbeatIds.has(replyTo));
    if (beaten && msg.code === 'lease_lost') {
      // A coordinator answers a lost lease in a heartbeat with a revoke per lease; this covers a bare refusal too.
      for (const r of beaten.rungs) if (!r.ended && !r.completion) this.#takenBack(beaten, r, `lease lost: ${msg.message}`);
      return;
    }
    const found = replyTo === undefined ? undefined : this.#find((r) => !r.ended && r.sentIds.has(replyTo));
    if (found && msg.code === 'lease_lost') this.#takenBack(found.batch, found.rung, `lease lost: ${msg.message}`);
    else if (found && msg.code === 'unavailable' && found.rung.completion?.inFlight === replyTo)
      this.#retryComplete(found.rung, msg.message);
    else if (msg.code === 'unavailable')
      this.#log('warn', `the coordinator could not take a message now; heartbeats go on as usual (${msg.message})`);
    else this.#log('error', `coordinator error ${msg.code}: ${msg.message}`);
  }

  #find(match: (r: Rung) => boolean): { batch: Batch; rung: Rung } | undefined {
    for (const batch of this.#batches) for (const rung of batch.rungs) if (match(rung)) return { batch, rung };
    return undefined;
  }

  /** The coordinator took this rung's lease back: no `fail`. Stops the transcode once no rung of its batch is left. */
  #takenBack(batch: Batch, rung: Rung, reason: string): void {
    if (rung.completion?.inFlight) {
      this.#orphans.add(rung.completion.inFlight);
      if (this.#orphans.size > 16) this.#orphans.delete(this.#orphans.values().next().value!);
    }
    this.#log('warn', `lease ${rung.leaseId} stopped${rung.completion ? ' while its segment waited for a verdict' : ''}: ${reason}`);
    rung.controller.abort();
    this.#endRung(batch, rung);
    if (batch.rungs.every((r) => r.ended) && (this.#encoding === batch || this.#next === batch)) {
      batch.stopReason = reason;
      batch.controller.abort();
      batch.turn?.reject(new Error(reason));
    }
  }

  #endRung(batch: Batch, rung: Rung): void {
    rung.ended = true;
    clearTimeout(rung.completion?.timer);
    rung.retryAt = undefined;
    const inFlight = this.#encoding === batch || this.#next === batch || this.#uploading.has(batch);
    if (batch.rungs.every((r) => r.ended) && !inFlight) this.#drop(batch);
    this.#changed();
  }

  #drop(batch: Batch): void {
    clearTimeout(batch.beat);
    this.#batches = this.#batches.filter((b) => b !== batch);
  }

  #heartbeat(b: Batch): void {
    clearTimeout(b.beat);
    const leases = liveLeases(b);
    if (leases.length === 0) return;
    // Ready for the next chunk: the encoder is free, or about to be and nothing is prefetched yet.
    const encoderFree = this.#encoding === null || (this.#encoding.askedAt !== undefined && this.#next === null);
    const ready = encoderFree && (this.#deps.acceptingWork?.() ?? true);
    const id = this.#deps.send({
      type: 'heartbeat',
      leases,
      progress: b.progress,
      stage: b.stage,
      ...(b.frames === undefined ? {} : { frames: b.frames }),
      ...(ready ? { ready } : {}),
    });
    if (id) b.heartbeatIds.add(id);
    if (b.heartbeatIds.size > 16) b.heartbeatIds.delete(b.heartbeatIds.values().next().value!);
    b.beat = setTimeout(() => this.#heartbeat(b), this.#deps.heartbeatIntervalMs());
  }

  #sendComplete(r: Rung): void {
    const k = r.completion!;
    clearTimeout(k.timer);
    r.retryAt = undefined;
    const id = this.#deps.send({
      type: 'complete',
      leaseId: k.leaseId,
      token: k.token,
      size: k.size,
      sha256: k.sha256,
      encodeMs: k.encodeMs,
    });
    k.inFlight = id;
    if (id) r.sentIds.add(id);
    // Not connected: handleWelcome() sends it.
    this.#changed();
  }

  #retryComplete(r: Rung, why: string): void {
    const k = r.completion!;
    const delay = completeRetryDelay(k.tries++, this.#deps.heartbeatIntervalMs(), this.#deps.random);
    k.inFlight = null;
    clearTimeout(k.timer);
    k.timer = setTimeout(() => this.#sendComplete(r), delay);
    r.retryAt = Date.now() + delay;
    this.#log('warn', `lease ${r.leaseId}: ${why}; keeping the segment and sending complete again in ${(delay / 1000).toFixed(1)} s`);
    this.#changed();
  }

  /** We give up on this rung: `fail` goes to the coordinator, which retries the rung on its own. */
  #failRung(batch: Batch, rung: Rung, detail: string): void {
    const reason = `${rung.stage}: ${detail}`.slice(0, REASON_MAX);
    this.#fails.send({ type: 'fail', leaseId: rung.leaseId, token: rung.token, reason });
    this.#failures++;
    this.#lastError = reason;
    this.#log('error', `lease ${rung.leaseId} failed: ${reason}`);
    this.#endRung(batch, rung);
  }

  #update(b: Batch, stage: Stage, progress: number, frames?: number): void {
    b.stage = stage;
    b.progress = Math.min(1, Math.max(b.progress, progress));
    if (frames !== undefined) b.frames = frames;
    for (const r of b.rungs) if (!r.ended && !r.completion && r.stage !== 'uploading') r.stage = stage;
    this.#changed();
  }

  #transfer(signal: AbortSignal) {
    return {
      signal,
      ...(this.#deps.fetch ? { fetch: this.#deps.fetch } : {}),
      ...(this.#deps.transferRetryDelaysMs ? { retryDelaysMs: this.#deps.transferRetryDelaysMs } : {}),
      onRetry: (what: string, error: string, delay: number) => this.#log('warn', `${what}: ${error}; again in ${delay / 1000} s`),
    };
  }

  /** The encoder passes to the prefetched batch, if any (its chunk may still be downloading). */
  #passEncoder(): void {
    this.#encoding = this.#next;
    this.#next = null;
    this.#encoding?.turn?.resolve();
  }

  /** Resolves when `b` has the encoder; rejects if every rung of `b` is taken back first. */
  #turn(b: Batch): Promise<void> {
    if (this.#encoding === b) return Promise.resolve();
    return new Promise((resolve, reject) => {
      b.turn = { resolve, reject };
    });
  }

  /** While `b` encodes: asks for the next chunk once the encode's pace says it ends within the lead. */
  #maybeAskForNext(b: Batch, startedAt: number, ratio: number): void {
    if (b.askedAt !== undefined || this.#next !== null || !(this.#deps.acceptingWork?.() ?? true)) return;
    if (!endsWithin(this.#leadMs, startedAt, Date.now(), ratio)) return;
    b.askedAt = Date.now();
    this.#heartbeat(b);
  }

  async #run(b: Batch): Promise<void> {
    const { signal } = b.controller;
    this.#changed();
    this.#heartbeat(b);
    let segments: Map<Rung, Uint8Array>;
    let encodeMs: number;
    try {
      const input = await download(b.input.url, b.input.size, this.#transfer(signal), (n) =>
        this.#update(b, 'downloading', (0.1 * n) / b.input.size),
      );
      if (b.requestedAt !== undefined) this.#leadMs = leadAfter(b.requestedAt, Date.now());
      await this.#turn(b);
      this.#update(b, 'transcoding', 0.1);
      const t0 = performance.now();
      const startedAt = Date.now();
      let inputFps: number | undefined;
      // Rungs taken back while downloading are not encoded at all.
      const live = b.rungs.filter((r) => !r.ended);
      const outputs = await this.#deps
        .transcoder()
        .transcode(
          input,
          live.map((r) => r.params),
          {
            signal,
            onProgress: (p) => {
              inputFps = p.inputFps ?? inputFps;
              this.#update(b, 'transcoding', 0.1 + 0.8 * p.ratio, p.frames);
              this.#maybeAskForNext(b, startedAt, p.ratio);
            },
          },
        )
        .catch((e: unknown) => {
          throw new TaskFailure(isTranscodeError(e) ? `${e.code}: ${e.message}` : String(e), { cause: e });
        });
      segments = new Map(live.map((r, i) => [r, outputs[i]!]));
      encodeMs = Math.round(performance.now() - t0);
      const frames = b.rungs[0]!.params.frames;
      this.#recordTiming({ frames, encodeMs, ...(inputFps ? { mediaSeconds: frames / inputFps } : {}) });
    } catch (e) {
      if (this.#encoding === b) this.#passEncoder();
      if (this.#next === b) this.#next = null;
      if (b.stopReason !== null) this.#log('warn', `chunk ${b.chunk} stopped: ${b.stopReason}`);
      else for (const r of b.rungs) if (!r.ended) this.#failRung(b, r, e instanceof Error ? e.message : String(e));
      this.#drop(b);
      this.#changed();
      return;
    }
    // Encoded: the encoder goes to the next chunk while these segments upload.
    this.#passEncoder();
    this.#uploading.add(b);
    this.#update(b, 'uploading', 0.9);
    this.#heartbeat(b);
    try {
      for (const [i, rung] of b.rungs.entries()) {
        const segment = segments.get(rung);
        if (segment) await this.#finishRung(b, rung, segment, encodeMs);
        this.#update(b, 'uploading', 0.9 + (0.1 * (i + 1)) / b.rungs.length);
      }
    } finally {
      this.#uploading.delete(b);
      if (b.rungs.every((r) => r.ended)) this.#drop(b);
      this.#changed();
    }
  }

  /** Hashes, uploads and reports one rung's segment, or fails that rung alone. */
  async #finishRung(b: Batch, rung: Rung, segment: Uint8Array, encodeMs: number): Promise<void> {
    if (rung.ended) return;
    rung.stage = 'uploading';
    try {
      const bytes = new Uint8Array(segment); // own ArrayBuffer: what fetch and digest accept
      const sha256 = await sha256Hex(bytes);
      await upload(rung.outputUrl, bytes, this.#transfer(rung.controller.signal));
      if (rung.ended) return; // taken back while hashing or after the PUT: no complete
      rung.stage = 'checking';
      rung.completion = { leaseId: rung.leaseId, token: rung.token, size: bytes.byteLength, sha256, encodeMs, tries: 0, inFlight: null };
      this.#log('info', `lease ${rung.leaseId} (${rung.params.rendition}): uploaded ${bytes.byteLength} bytes, encode ${encodeMs} ms`);
      this.#sendComplete(rung);
    } catch (e) {
      if (rung.ended) return;
      this.#failRung(b, rung, e instanceof Error ? e.message : String(e));
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
