/**
 * Test support: a WebSocket client that speaks the handshake over a plain TCP
 * socket and writes frames byte by byte, so tests can send what no WebSocket
 * library would (oversized lengths, invalid UTF-8, reserved opcodes and RSV
 * bits, unmasked frames, fragment floods) and read the close code the
 * coordinator answers with.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export interface FrameOptions {
  readonly fin?: boolean;
  /** RSV1..3 bits, e.g. 0x40 for RSV1. */
  readonly rsv?: number;
  /** Claim this payload length in the header, whatever is sent. */
  readonly declaredLength?: number;
  /** Clients must mask; false sends an unmasked frame. */
  readonly mask?: boolean;
}

export function frame(opcode: number, payload: Buffer | string, opts: FrameOptions = {}): Buffer {
  const body = Buffer.from(payload);
  const n = opts.declaredLength ?? body.length;
  const first = ((opts.fin ?? true) ? 0x80 : 0) | (opts.rsv ?? 0) | opcode;
  const maskBit = (opts.mask ?? true) ? 0x80 : 0;
  let header: Buffer;
  if (n < 126) header = Buffer.from([first, maskBit | n]);
  else if (n < 65_536) {
    header = Buffer.from([first, maskBit | 126, 0, 0]);
    header.writeUInt16BE(n, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(n), 2);
  }
  if (!(opts.mask ?? true)) return Buffer.concat([header, body]);
  const key = randomBytes(4);
  const masked = Buffer.from(body);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i % 4]!;
  return Buffer.concat([header, key, masked]);
}

export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

export class RawSocket {
  readonly frames: ServerFrame[] = [];
  private buffer = Buffer.alloc(0);
  private upgraded = false;
  statusLine = '';
  ended = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d) => this.onData(d));
    socket.on('close', () => (this.ended = true));
    socket.on('error', () => undefined); // the coordinator may reset us; `ended` says so
  }

  /** Connects and upgrades; resolves once the 101 (or any other status line) arrived. */
  static async open(
    port: number,
    opts: { path?: string; localAddress?: string; headers?: Record<string, string>; host?: string } = {},
  ): Promise<RawSocket> {
    const socket = net.connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const raw = new RawSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const extra = Object.entries(opts.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(
      `GET ${opts.path ?? '/ws/v1'} HTTP/1.1\r\nHost: ${opts.host ?? `127.0.0.1:${port}`}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    await raw.until(() => raw.statusLine !== '' || raw.ended, 5000);
    return raw;
  }

  get accepted(): boolean {
    return this.statusLine.startsWith('HTTP/1.1 101');
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** The close code the server sent, once it has. */
  get closeCode(): number | undefined {
    const close = this.frames.find((f) => f.opcode === 0x8);
    return close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
  }

  texts(): string[] {
    return this.frames.filter((f) => f.opcode === 0x1).map((f) => f.payload.toString('utf8'));
  }

  async until(pred: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`raw socket: condition not met within ${timeoutMs} ms (status "${this.statusLine}")`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, d]);
    if (!this.upgraded) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.statusLine = this.buffer.subarray(0, this.buffer.indexOf('\r\n')).toString('latin1');
      this.buffer = this.buffer.subarray(end + 4);
      this.upgraded = true;
      if (!this.accepted) return;
    }
    // Server frames are unmasked; lengths here stay small.
    while (this.buffer.length >= 2) {
      const opcode = this.buffer[0]! & 0x0f;
      let len = this.buffer[1]! & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (this.buffer.length < 4) return;
        len = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (this.buffer.length < 10) return;
        len = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + len) return;
      this.frames.push({ opcode, payload: this.buffer.subarray(offset, offset + len) });
      this.buffer = this.buffer.subarray(offset + len);
    }
  }
}
