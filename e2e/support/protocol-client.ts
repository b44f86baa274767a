/**
 * A scripted worker that speaks protocol v1 over a real WebSocket and
 * transcodes with native ffmpeg using the tab's own x264 recipe. The failure
 * tests use it to be a zombie, to replay old messages and to send garbage —
 * things a well-behaved tab never does, but a volunteer's might.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
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
  type AssignMessage,
  type ClientMessage,
  type ServerMessage,
  type Unsent,
  x264ChunkArgs,
} from '@tabgrid/shared';

const run = promisify(execFile);

export interface Segment {
  bytes: Buffer;
  sha256: string;
}

export class ProtocolClient {
  readonly workerId = `script_${randomBytes(6).toString('hex')}`;
  readonly received: ServerMessage[] = [];
  private ws!: WebSocket;
  private waiters: { match: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  private seq = 0;

  constructor(private readonly baseUrl: string) {}

  async connect(): Promise<void> {
    this.ws = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}${WS_PATH}`);
    this.ws.on('message', (data) => {
      const parsed = parseMessage(serverMessageSchema, data.toString());
      if (!parsed.ok) throw new Error(`coordinator sent an invalid message: ${parsed.error}`);
      this.received.push(parsed.message);
      const i = this.waiters.findIndex((w) => w.match(parsed.message));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(parsed.message);
    });
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
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

  async hello(resume?: { leaseId: string; token: string }): Promise<void> {
    this.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      workerId: this.workerId,
      name: 'protocol-client',
      capabilities: { encoders: ['native-x264'], threads: 1, wasmMultiThread: false },
      ...(resume ? { resume } : {}),
    });
    await this.next('welcome');
  }

  /** Downloads the chunk, transcodes it with native ffmpeg (1 thread, the tab's arguments), returns the segment. */
  async transcode(assign: AssignMessage): Promise<Segment> {
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

  async upload(assign: AssignMessage, segment: Segment): Promise<number> {
    const res = await fetch(assign.output.url, {
      method: 'PUT',
      body: new Uint8Array(segment.bytes),
      headers: { 'Content-Type': 'video/mp4' },
    });
    return res.status;
  }

  /** Sends complete and waits for the coordinator's verdict. */
  async complete(assign: Pick<AssignMessage, 'leaseId' | 'token'>, segment: Segment) {
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
  async work(until: () => boolean, onAccepted?: (a: AssignMessage) => void): Promise<number> {
    let accepted = 0;
    while (!until()) {
      const assign = await this.next('assign', () => true, 2_000).catch(() => undefined);
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
