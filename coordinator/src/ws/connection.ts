/**
 * One tab's WebSocket: validates every message, answers hello, heartbeat,
 * complete and fail, and tracks the leases the tab holds: the rungs of the
 * chunk it encodes, and those of the previous chunk still uploading. The tab is never
 * trusted: a message that does not parse gets an `error` reply, every lease
 * operation is checked against the database's current token, a socket that
 * does not say hello in time or sends faster than its token bucket allows is
 * closed, and the worker id is the one the gateway established from the
 * hello's credential, never one the tab names.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import {
  PROTOCOL_VERSION,
  WS_CLOSE,
  clientMessageSchema,
  helloProtocol,
  parseMessage,
  type ClientMessage,
  type ErrorCode,
  type HelloMessage,
  type ServerMessage,
  type Unsent,
} from '@tabgrid/shared';
import { LeaseLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Assignment, TaskScheduler } from '../scheduler/task-scheduler.js';
import type { WorkerIdentity } from './credentials.js';
import { TokenBucket } from './limits.js';

export interface ConnectionHooks {
  readonly scheduler: TaskScheduler;
  readonly leaseTtlSeconds: number;
  /**
   * Establishes who the tab is (its credential, or a fresh identity) and
   * opens its session; null when the coordinator is too busy to take it now
   * (the socket is then closed with 1013 and the tab comes back later).
   */
  readonly onHello: (conn: WorkerConnection, msg: HelloMessage) => Promise<WorkerIdentity | null>;
  /** The tab may take work now. */
  readonly onIdle: () => void;
}

export interface ConnectionLimits {
  readonly helloTimeoutSeconds: number;
  readonly messagesPerSecond: number;
  readonly messageBurst: number;
}

let nextMessage = 0;
const messageId = () => `s${(++nextMessage).toString(36)}`;

export class WorkerConnection {
  /** Set once the hello is handled: the identity the credential proved, or the fresh one issued. */
  workerId: string | undefined;
  /** The welcome is sent: the tab may send lease messages and take work. */
  welcomed = false;
  /** The session this connection opened (workers.connected_at), so its close ends only that session. */
  session: Date | undefined;
  /**
   * The leases this tab holds and has not completed or failed, by lease id.
   * `encoding`: its batch still needs the tab's encoder (until a heartbeat
   * says `ready`); while one does the tab gets no new work.
   */
  readonly leases = new Map<string, { token: string; encoding: boolean }>();
  /** Completed segments the coordinator is checking now. */
  verifying = 0;
  /** Most rungs of one chunk the tab takes at once (capabilities.maxRungs, 1 when absent). */
  maxRungs = 1;
  alive = true;
  /** Since when the tab has been waiting for work; the dispatcher serves the longest-waiting tab first. */
  waitingSince = Date.now();
  /** The dispatcher passes this tab over until then (it is quarantined, or got nothing while work remained). */
  skipUntil = 0;
  readonly connectionId = randomUUID();
  private readonly log: Logger;
  private readonly bucket: TokenBucket;
  private helloSeen = false;
  private readonly helloTimer: NodeJS.Timeout;
  private closing = false;

  constructor(
    readonly ws: WebSocket,
    /** What limits count this tab under (ws/client-address.ts); never sent to anyone. */
    readonly address: string,
    private readonly hooks: ConnectionHooks,
    limits: ConnectionLimits,
    logger: Logger,
  ) {
    this.log = logger.child({ connection: this.connectionId.slice(0, 8) });
    this.bucket = new TokenBucket(limits.messageBurst, limits.messagesPerSecond);
    // A socket that never says hello would otherwise hold an address's slot forever.
    this.helloTimer = setTimeout(() => {
      if (this.helloSeen) return;
      this.log.info({ address }, 'closing a connection that said no hello in time');
      this.close(WS_CLOSE.policyViolation, `no hello within ${limits.helloTimeoutSeconds} s`);
    }, limits.helloTimeoutSeconds * 1000);
    this.helloTimer.unref();
  }

  /**
   * The tab may take a new batch: its encoder is free or about to be (it
   * said `ready`), and it holds at most two batches' worth of leases that no
   * longer need the encoder (one uploading, one being checked), so a tab
   * whose uploads or checks fall behind its encoder stops taking work, and a
   * lease never waits long in a tab for an encoder.
   */
  get idle(): boolean {
    if (!this.welcomed || this.ws.readyState !== this.ws.OPEN) return false;
    for (const l of this.leases.values()) if (l.encoding) return false;
    return this.leases.size + this.verifying <= 2 * this.maxRungs;
  }

  /** The tokens of every lease the tab holds (released if it drops and does not come back). */
  heldTokens(): string[] {
    return [...this.leases.values()].map((l) => l.token);
  }

  send(msg: Unsent<ServerMessage>): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify({ ...msg, id: msg.id ?? messageId() }));
  }

  sendError(code: ErrorCode, message: string, replyTo?: string): void {
    this.send({ type: 'error', code, message, ...(replyTo ? { replyTo } : {}) });
  }

  /** Closes the socket (once) and ignores whatever else it sends. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.helloTimer);
    this.ws.close(code, reason);
  }

  /** The socket is gone: stop the hello deadline. */
  closed(): void {
    this.closing = true;
    clearTimeout(this.helloTimer);
  }

  assign(a: Assignment): void {
    for (const r of a.rungs) this.leases.set(r.leaseId, { token: r.token, encoding: true });
    this.send({ type: 'assign', ...a });
  }

  revoke(leaseId: string, reason: string): void {
    this.send({ type: 'revoke', leaseId, reason });
    if (!this.leases.delete(leaseId)) return;
    // Idle again, at the back of the line: a tab whose lease expired (it went silent)
    // must not get the same task straight back ahead of the tabs that waited.
    this.markWaiting();
  }

  /**
   * One frame or control message from the tab: spends a token, or closes the
   * socket with 1008 when the bucket is empty. Returns whether to go on.
   */
  spend(): boolean {
    if (this.closing) return false;
    if (this.bucket.take()) return true;
    this.log.warn({ workerId: this.workerId, address: this.address }, 'closing a connection that sends too many messages');
    this.close(WS_CLOSE.policyViolation, 'too many messages');
    return false;
  }

  async handle(raw: string): Promise<void> {
    if (!this.spend()) return;
    const parsed = parseMessage(clientMessageSchema, raw);
    const version = parsed.ok ? undefined : helloProtocol(raw);
    if (version !== undefined && version !== PROTOCOL_VERSION) {
      // A page of another version (its hello may not even parse here): tell it to reload.
      this.refuseVersion(parsed.ok ? undefined : parsed.id);
      return;
    }
    if (!parsed.ok) {
      this.log.info({ workerId: this.workerId, error: parsed.error }, 'invalid message from tab');
      this.sendError('invalid_message', parsed.error, parsed.id);
      return;
    }
    const msg = parsed.message;
    if (msg.type === 'hello') {
      if (this.helloSeen) {
        this.sendError('invalid_message', 'hello was already said on this connection; open a new one to start over', msg.id);
        return;
      }
    } else if (!this.welcomed) {
      this.sendError('not_introduced', 'send hello first, and wait for the welcome', msg.id);
      return;
    }
    try {
      await this.dispatch(msg);
    } catch (err) {
      if (err instanceof LeaseLostError) {
        this.revoke(msg.type === 'hello' || msg.type === 'heartbeat' ? '' : msg.leaseId, err.message);
        this.markWaiting();
        return;
      }
      // Database or storage trouble: the tab keeps what it has and sends the message again later.
      this.log.warn({ err: (err as Error).message, workerId: this.workerId, type: msg.type }, 'could not handle message now');
      this.sendError(
        'unavailable',
        `the coordinator could not handle this ${msg.type} now (${(err as Error).message}); send it again later`,
        msg.id,
      );
    }
  }

  /** Now waiting for work (again): the longest-waiting tab is served first, so this one goes to the back. */
  private markWaiting(): void {
    this.waitingSince = Date.now();
    this.skipUntil = 0;
    this.hooks.onIdle();
  }

  private refuseVersion(replyTo: string | undefined): void {
    this.sendError('unsupported_protocol', `this coordinator speaks protocol ${PROTOCOL_VERSION}; reload the page`, replyTo);
    this.close(WS_CLOSE.unsupportedProtocol, 'unsupported protocol');
  }

  private async hello(msg: HelloMessage): Promise<void> {
    if (msg.protocol !== PROTOCOL_VERSION) {
      this.refuseVersion(msg.id);
      return;
    }
    this.helloSeen = true;
    clearTimeout(this.helloTimer);
    let identity: WorkerIdentity | null;
    try {
      identity = await this.hooks.onHello(this, msg);
    } catch (err) {
      // The database is down. Closed rather than kept: the hello deadline no longer
      // guards this socket, and the tab says hello again on a new one, with backoff.
      const why = (err as Error).message;
      this.log.warn({ err: why, address: this.address }, 'could not take a worker now');
      this.sendError('unavailable', `the coordinator could not handle this hello now (${why}); try again later`, msg.id);
      this.close(WS_CLOSE.tryAgainLater, 'the coordinator cannot take workers now');
      return;
    }
    if (!identity) {
      this.close(WS_CLOSE.tryAgainLater, 'the coordinator is busy; try again later');
      return;
    }
    this.workerId = identity.workerId;
    this.maxRungs = msg.capabilities.maxRungs ?? 1;
    this.send({
      type: 'welcome',
      replyTo: msg.id,
      protocol: PROTOCOL_VERSION,
      workerId: identity.workerId,
      credential: identity.credential,
      leaseTtlSeconds: this.hooks.leaseTtlSeconds,
      heartbeatIntervalSeconds: Math.max(1, this.hooks.leaseTtlSeconds / 3),
    });
    this.welcomed = true;
    this.markWaiting();
  }

  private async dispatch(msg: ClientMessage): Promise<void> {
    switch (msg.type) {
      case 'hello':
        await this.hello(msg);
        return;
      case 'heartbeat': {
        const lost = await this.hooks.scheduler.heartbeat(msg);
        for (const leaseId of lost) this.revoke(leaseId, 'the lease is no longer yours: it expired, was reassigned, or its job ended');
        if (!msg.ready) return;
        // The batch is encoded: the tab's encoder is free for the next chunk while these upload.
        let freed = false;
        for (const { leaseId } of msg.leases) {
          const held = this.leases.get(leaseId);
          if (held?.encoding) {
            held.encoding = false;
            freed = true;
          }
        }
        if (freed) this.markWaiting();
        return;
      }
      case 'complete': {
        this.verifying++;
        this.leases.delete(msg.leaseId);
        try {
          const result = await this.hooks.scheduler.complete(this.workerId!, msg);
          // Not decided: the tab still holds the lease and will send complete again.
          if (result.retry) this.leases.set(msg.leaseId, { token: msg.token, encoding: false });
          this.send({
            type: 'result',
            replyTo: msg.id,
            leaseId: msg.leaseId,
            accepted: result.accepted,
            ...(result.reason ? { reason: result.reason } : {}),
            ...(result.retry ? { retry: true } : {}),
          });
        } catch (err) {
          if (!(err instanceof LeaseLostError)) {
            this.leases.set(msg.leaseId, { token: msg.token, encoding: false });
            throw err;
          }
          this.send({ type: 'result', replyTo: msg.id, leaseId: msg.leaseId, accepted: false, reason: err.message });
        } finally {
          this.verifying--;
          this.markWaiting();
        }
        return;
      }
      case 'fail':
        this.leases.delete(msg.leaseId);
        await this.hooks.scheduler.fail(this.workerId!, msg);
        this.markWaiting();
        return;
    }
  }
}
