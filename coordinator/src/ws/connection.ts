/**
 * One tab's WebSocket: validates every message, answers hello, heartbeat,
 * complete and fail, and tracks the lease the tab holds. The tab is never
 * trusted: a message that does not parse gets an `error` reply, and every
 * lease operation is checked against the database's current token.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import {
  PROTOCOL_VERSION,
  clientMessageSchema,
  parseMessage,
  type ClientMessage,
  type ErrorCode,
  type ServerMessage,
  type Unsent,
} from '@tabgrid/shared';
import { LeaseLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Assignment, TaskScheduler } from '../scheduler/task-scheduler.js';

export interface ConnectionHooks {
  readonly scheduler: TaskScheduler;
  readonly leaseTtlSeconds: number;
  readonly onHello: (conn: WorkerConnection, msg: Extract<ClientMessage, { type: 'hello' }>) => Promise<void>;
  /** The tab may take work now. */
  readonly onIdle: () => void;
}

let nextMessage = 0;
const messageId = () => `s${(++nextMessage).toString(36)}`;

export class WorkerConnection {
  workerId: string | undefined;
  /** The lease this tab is working on, if any. */
  lease: { leaseId: string; token: string } | undefined;
  /** Waiting for the coordinator to verify a completed segment. */
  verifying = false;
  alive = true;
  readonly connectionId = randomUUID();
  private readonly log: Logger;

  constructor(
    readonly ws: WebSocket,
    private readonly hooks: ConnectionHooks,
    logger: Logger,
  ) {
    this.log = logger.child({ connection: this.connectionId.slice(0, 8) });
  }

  get idle(): boolean {
    return this.workerId !== undefined && this.lease === undefined && !this.verifying && this.ws.readyState === this.ws.OPEN;
  }

  send(msg: Unsent<ServerMessage>): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify({ ...msg, id: msg.id ?? messageId() }));
  }

  sendError(code: ErrorCode, message: string, replyTo?: string): void {
    this.send({ type: 'error', code, message, ...(replyTo ? { replyTo } : {}) });
  }

  /** When this tab was last given work; the dispatcher serves the longest-waiting tab first. */
  lastAssignedAt = 0;

  assign(a: Assignment): void {
    this.lastAssignedAt = Date.now();
    this.lease = { leaseId: a.leaseId, token: a.token };
    this.send({ type: 'assign', ...a });
  }

  revoke(leaseId: string, reason: string): void {
    if (this.lease?.leaseId === leaseId) this.lease = undefined;
    this.send({ type: 'revoke', leaseId, reason });
  }

  async handle(raw: string): Promise<void> {
    const parsed = parseMessage(clientMessageSchema, raw);
    if (!parsed.ok) {
      this.log.info({ workerId: this.workerId, error: parsed.error }, 'invalid message from tab');
      this.sendError('invalid_message', parsed.error, parsed.id);
      return;
    }
    const msg = parsed.message;
    if (msg.type !== 'hello' && this.workerId === undefined) {
      this.sendError('not_introduced', 'send hello first', msg.id);
      return;
    }
    try {
      await this.dispatch(msg);
    } catch (err) {
      if (err instanceof LeaseLostError) {
        this.revoke(msg.type === 'hello' ? '' : msg.leaseId, err.message);
        this.hooks.onIdle();
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

  private async dispatch(msg: ClientMessage): Promise<void> {
    switch (msg.type) {
      case 'hello': {
        if (msg.protocol !== PROTOCOL_VERSION) {
          this.sendError('unsupported_protocol', `this coordinator speaks protocol ${PROTOCOL_VERSION}; reload the page`, msg.id);
          this.ws.close(4000, 'unsupported protocol');
          return;
        }
        this.workerId = msg.workerId;
        await this.hooks.onHello(this, msg);
        this.send({
          type: 'welcome',
          replyTo: msg.id,
          protocol: PROTOCOL_VERSION,
          workerId: msg.workerId,
          leaseTtlSeconds: this.hooks.leaseTtlSeconds,
          heartbeatIntervalSeconds: Math.max(1, this.hooks.leaseTtlSeconds / 3),
        });
        this.hooks.onIdle();
        return;
      }
      case 'heartbeat':
        await this.hooks.scheduler.heartbeat(msg);
        return;
      case 'complete': {
        this.verifying = true;
        if (this.lease?.leaseId === msg.leaseId) this.lease = undefined;
        try {
          const result = await this.hooks.scheduler.complete(this.workerId!, msg);
          // Not decided: the tab still holds the lease and will send complete again.
          if (result.retry) this.lease = { leaseId: msg.leaseId, token: msg.token };
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
            this.lease = { leaseId: msg.leaseId, token: msg.token };
            throw err;
          }
          this.send({ type: 'result', replyTo: msg.id, leaseId: msg.leaseId, accepted: false, reason: err.message });
        } finally {
          this.verifying = false;
          this.hooks.onIdle();
        }
        return;
      }
      case 'fail':
        if (this.lease?.leaseId === msg.leaseId) this.lease = undefined;
        await this.hooks.scheduler.fail(msg);
        this.hooks.onIdle();
        return;
    }
  }
}
