/**
 * A scripted worker that speaks the tab's protocol over a real WebSocket and
 * transcodes with native ffmpeg using the tab's own x264 recipe. The failure
 * tests use it to be a zombie, to replay old messages and to send garbage —
 * things a well-behaved tab never does, but a volunteer's might — and the
 * hostile-worker tests to present someone else's or a forged credential, to
 * come from another loopback address (127.0.0.x), or to say hello by the
 * hundred.
 *
 * Like a tab, it has no identity until its first welcome, keeps the id and
 * credential the coordinator issued, and presents the credential in every
 * later hello (also after reconnect()).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import {
  PROTOCOL_VERSION,
  parseMessage,
  serverMessageSchema,
  WS_PATH,
  type Capabilities,
  type ClientMessage,
  type RungLease,
  rungLeases,
  type ServerMessage,
  type Unsent,
  x264ChunkArgs,
} from '@tabgrid/shared';

const run = promisify(execFile);

export interface Segment {
  bytes: Buffer;
  sha256: string;
}

export interface ProtocolClientOptions {
  /** The loopback address to connect from (e.g. 127.0.0.2): a different address as the coordinator counts them. */
  readonly localAddress?: string;
  /** Extra handshake headers (X-Forwarded-For behind a TRUST_PROXY coordinator). */
  readonly headers?: Record<string, string>;
  /** What hello reports; default: native x264, one thread. */
  readonly capabilities?: Capabilities;
}

export class ProtocolClient {
  /** The id the coordinator issued in the last welcome ('' before the first). */
  workerId = '';
  /** Presented in the next hello: what the last welcome issued, or whatever a test sets (someone else's, forged). */
  credential: string | undefined;
  readonly received: ServerMessage[] = [];
  /** How the socket closed (code and reason), once it has. */
  closed: { code: number; reason: string } | undefined;
  private ws!: WebSocket;
  private waiters: { match: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  private seq = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly opts: ProtocolClientOptions = {},
  ) {}

  async connect(): Promise<void> {
    this.closed = undefined;
    const ws = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}${WS_PATH}`, {
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
      const i = this.waiters.findIndex((w) => w.match(parsed.message));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(parsed.message);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      // A refused upgrade is an error naming the status: "Unexpected server response: 429".
      ws.once('error', reject);
    });
    ws.on('error', () => undefined); // after open, a close always follows; tests read `closed`
  }

  /** A new socket for the same worker: the next hello presents the credential kept from the last welcome. */
  async reconnect(): Promise<void> {
    this.ws.terminate();
    await this.connect();
  }

  /** Resolves with the close code once the coordinator has closed the socket, or rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`${this.workerId || 'client'}: socket still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closed;
  }

  /** Sends a protocol message (or, for the garbage tests, any text). Returns the id used. */
  send(msg: Unsent<ClientMessage> | string): string {
    if (typeof msg === 'string') {
      this.ws.send(msg);
      return '';
    }
    const id = msg.id ?? `c${++this.seq}`;
    this.ws.send(JSON.stringify({ ...msg, id }));
    return id;
  }

  /** The next message (already received or future) matching `match`, or a timeout error. */
  next<T extends ServerMessage['type']>(
    type: T,
    match: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const test = (m: ServerMessage) => m.type === type && match(m as Extract<ServerMessage, { type: T }>);
    const seen = this.received.find(test);
    if (seen) {
      this.received.splice(this.received.indexOf(seen), 1);
      return Promise.resolve(seen as Extract<ServerMessage, { type: T }>);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        match: test,
        resolve: (m: ServerMessage) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(m), 1);
          resolve(m as Extract<ServerMessage, { type: T }>);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(
          new Error(`${this.workerId}: no ${type} within ${timeoutMs} ms; received ${JSON.stringify(this.received.map((m) => m.type))}`),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /**
   * The next assignment (already received or future) with a rung matching
   * `match`, as that rung's lease. This client declares no maxRungs, so the
   * coordinator sends it one rung at a time.
   */
  async nextLease(match: (l: RungLease) => boolean = () => true, timeoutMs = 30_000): Promise<RungLease> {
    const assign = await this.next('assign', (a) => rungLeases(a).some(match), timeoutMs);
    return rungLeases(assign).find(match)!;
  }

  /** Says hello (with `credential`, when set) and waits for the welcome; returns it. */
  async hello(resume?: { leaseId: string; token: string }, timeoutMs = 30_000) {
    const id = this.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      name: 'protocol-client',
      capabilities: this.opts.capabilities ?? { encoders: ['native-x264'], threads: 1, wasmMultiThread: false },
      ...(this.credential ? { credential: this.credential } : {}),
      ...(resume ? { resume: [resume] } : {}),
    });
    return this.next('welcome', (w) => w.replyTo === id, timeoutMs);
  }

  /** Downloads the chunk, transcodes it with native ffmpeg (1 thread, the tab's arguments), returns the segment. */
  async transcode(assign: RungLease): Promise<Segment> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tabgrid-client-'));
    try {
      const res = await fetch(assign.input.url);
      if (!res.ok) throw new Error(`GET chunk: ${res.status}`);
      const input = path.join(dir, 'in.mkv');
      const output = path.join(dir, 'out.mp4');
      await writeFile(input, Buffer.from(await res.arrayBuffer()));
      await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...x264ChunkArgs(assign.params, { input, output, threads: 1 })]);
      const bytes = await readFile(output);
      return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async upload(assign: RungLease, segment: Segment): Promise<number> {
    const res = await fetch(assign.output.url, {
      method: 'PUT',
      body: new Uint8Array(segment.bytes),
      headers: { 'Content-Type': 'video/mp4' },
    });
    return res.status;
  }

  /** Sends complete and waits for the coordinator's verdict. */
  async complete(assign: Pick<RungLease, 'leaseId' | 'token'>, segment: Segment) {
    const id = this.send({
      type: 'complete',
      leaseId: assign.leaseId,
      token: assign.token,
      size: segment.bytes.length,
      sha256: segment.sha256,
    });
    return this.next('result', (r) => r.replyTo === id, 60_000);
  }

  /** Transcodes, uploads and completes every assignment until `until` says stop. */
  async work(until: () => boolean, onAccepted?: (a: RungLease) => void): Promise<number> {
    let accepted = 0;
    while (!until()) {
      const assign = await this.nextLease(() => true, 2_000).catch(() => undefined);
      if (!assign) continue;
      const seg = await this.transcode(assign);
      await this.upload(assign, seg);
      const r = await this.complete(assign, seg);
      if (r.accepted) {
        accepted++;
        onAccepted?.(assign);
      }
    }
    return accepted;
  }

  close(): void {
    this.ws.terminate();
  }
}
