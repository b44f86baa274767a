/**
 * The browser's WebSocket as the connection's SocketLike (connection.ts),
 * which names no DOM type so that the same connection runs under Node.
 * Returns a socket whose handlers the connection sets; events are passed on
 * with only what the connection reads (text data, close code and reason).
 */
import type { SocketLike } from './connection.js';

export function browserSocket(url: string): SocketLike {
  const ws = new WebSocket(url);
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
  ws.onopen = () => socket.onopen?.();
  ws.onmessage = (ev) => socket.onmessage?.({ data: ev.data });
  ws.onclose = (ev) => socket.onclose?.({ code: ev.code, reason: ev.reason });
  ws.onerror = () => socket.onerror?.();
  return socket;
}
