/**
 * A `ws` client socket as the worker runtime's SocketLike (the browser's
 * WebSocket shape without DOM types): Node 20 has no global WebSocket.
 * Returns the adapter; the Connection sets its handlers.
 *
 * Bounded like the coordinator bounds us: a message from the coordinator
 * larger than MAX_MESSAGE_BYTES closes the socket (the largest valid one is
 * ~12 KB, and a batch assignment of every rung of a chunk stays well under
 * this), and a handshake that does not finish in HANDSHAKE_TIMEOUT_MS is
 * given up (the Connection then retries with backoff).
 */
import WebSocket from 'ws';
import type { SocketLike } from '@tabgrid/web-worker-client/runtime';

const MAX_MESSAGE_BYTES = 256 * 1024;
const HANDSHAKE_TIMEOUT_MS = 15_000;

export interface WsSocketOptions {
  /** Source address to connect from (tests: another loopback address, 127.0.0.x). */
  readonly localAddress?: string;
  readonly userAgent?: string;
}

export function wsSocket(url: string, opts: WsSocketOptions = {}): SocketLike {
  const ws = new WebSocket(url, {
    maxPayload: MAX_MESSAGE_BYTES,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    followRedirects: false,
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    ...(opts.userAgent ? { headers: { 'User-Agent': opts.userAgent } } : {}),
  });
  const socket: SocketLike = {
    get readyState() {
      return ws.readyState;
    },
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
  };
  ws.on('open', () => socket.onopen?.());
  // Text frames arrive as strings; a binary one stays a Buffer, which the Connection refuses.
  ws.on('message', (data, isBinary) => socket.onmessage?.({ data: isBinary ? data : data.toString('utf8') }));
  ws.on('close', (code, reason) => socket.onclose?.({ code, reason: reason.toString('utf8') }));
  // Always listened to: an unhandled 'error' would end the process (a close follows it).
  ws.on('error', () => socket.onerror?.());
  return socket;
}
