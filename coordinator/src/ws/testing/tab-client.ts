/**
 * Test support: a light protocol client (no transcoding) for the gateway's
 * integration tests: hello with or without a credential, from a chosen
 * loopback address, and the messages it receives.
 */
import WebSocket from 'ws';
import {
  PROTOCOL_VERSION,
  WS_PATH,
  parseMessage,
  serverMessageSchema,
  type ClientMessage,
  type ServerMessage,
  type Unsent,
} from '@tabgrid/shared';

export class TabClient {
  workerId = '';
  credential: string | undefined;
  readonly received: ServerMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  private ws!: WebSocket;
  private seq = 0;

  constructor(
    private readonly port: number,
    private readonly opts: { localAddress?: string; headers?: Record<string, string> } = {},
  ) {}

  /** Opens the socket; rejects with the HTTP status when the upgrade is refused. */
  async connect(): Promise<this> {
    this.closed = undefined;
    const ws = new WebSocket(`ws://127.0.0.1:${this.port}${WS_PATH}`, {
      ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
      ...(this.opts.headers ? { headers: this.opts.headers } : {}),
    });
    this.ws = ws;
    ws.on('message', (data) => {
      const parsed = parseMessage(serverMessageSchema, data.toString());
      if (!parsed.ok) throw new Error(`coordinator sent an invalid message: ${parsed.error}`);
      if (parsed.message.type === 'welcome') {
        this.workerId = parsed.message.workerId;
        this.credential = parsed.message.credential;
      }
      this.received.push(parsed.message);
    });
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => undefined);
    return this;
  }

  send(msg: Unsent<ClientMessage> | string): string {
    if (typeof msg === 'string') {
      this.ws.send(msg);
      return '';
    }
    const id = msg.id ?? `c${++this.seq}`;
    this.ws.send(JSON.stringify({ ...msg, id }));
    return id;
  }

  /** Sends hello (with `credential` unless overridden) without waiting. Returns the message id. */
  sayHello(opts: { credential?: string | null; resume?: { leaseId: string; token: string }[] } = {}): string {
    const credential = opts.credential === undefined ? this.credential : (opts.credential ?? undefined);
    return this.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      capabilities: { encoders: ['native-x264'], threads: 1, wasmMultiThread: false },
      ...(credential ? { credential } : {}),
      ...(opts.resume ? { resume: opts.resume } : {}),
    });
  }

  async hello(opts: Parameters<TabClient['sayHello']>[0] = {}, timeoutMs = 10_000) {
    const id = this.sayHello(opts);
    return this.next('welcome', (w) => w.replyTo === id, timeoutMs);
  }

  /** The first received message of `type` matching `match` (removed from `received`), waiting up to `timeoutMs`. */
  async next<T extends ServerMessage['type']>(
    type: T,
    match: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((m) => m.type === type && match(m as Extract<ServerMessage, { type: T }>));
      if (i >= 0) return this.received.splice(i, 1)[0] as Extract<ServerMessage, { type: T }>;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.workerId || 'client'}: no ${type} within ${timeoutMs} ms; got ${JSON.stringify(this.received.map((m) => m.type))}, closed ${JSON.stringify(this.closed)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`${this.workerId || 'client'}: still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.closed;
  }

  get socket(): WebSocket {
    return this.ws;
  }

  close(): void {
    this.ws.terminate();
  }
}
