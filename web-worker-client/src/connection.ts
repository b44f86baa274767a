/**
 * The tab's WebSocket to the coordinator: hello/welcome, typed callbacks per
 * server message, message ids, and reconnection with exponential backoff and
 * jitter (so a coordinator restart is not met by every tab at the same instant).
 * Every server message is validated with the shared schema on arrival.
 *
 * Who the tab is comes from the caller's hello() (the credential the last
 * welcome gave, see identity.ts), asked afresh for every connection.
 *
 * No DOM: the socket comes from an injected createSocket (the page's wraps
 * the browser's WebSocket, browser-socket.ts; the native worker's wraps the
 * `ws` package), so the same connection runs in a tab and under Node.
 */
import {
  PROTOCOL_VERSION,
  WS_CLOSE,
  WS_PATH,
  backoffDelay,
  clientMessageSchema,
  parseMessage,
  serverMessageSchema,
  type BackoffPolicy,
  type ClientMessage,
  type HelloMessage,
  type ServerMessage,
  type WelcomeMessage,
} from '@tabgrid/shared';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped';
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** What callers send; the connection adds the id. `hello` is the connection's own business. */
export type OutgoingMessage = DistributiveOmit<Exclude<ClientMessage, HelloMessage>, 'id'>;
export type ServerHandler<T extends ServerMessage['type']> = (msg: Extract<ServerMessage, { type: T }>) => void;
export type LogFn = (level: 'info' | 'warn' | 'error', message: string) => void;

/**
 * The part of a WebSocket we use, in the browser's shape but without DOM
 * types: a browser WebSocket or a `ws` socket behind a small adapter, or a
 * test's fake. `data` is a string for a text frame (anything else is refused).
 */
export interface SocketLike {
  readonly readyState: number;
  onopen: (() => void) | null;
  onmessage: ((ev: { readonly data: unknown }) => void) | null;
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: (() => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** 1 s, 2 s, 4 s … up to 30 s, with equal jitter: retries spread out but never bunch at 0. */
export const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, jitter: 'equal' };

/** The coordinator's WebSocket address for a page at `loc` (location) or a coordinator URL (new URL(…)). */
export function wsUrl(loc: { readonly protocol: string; readonly host: string }): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}${WS_PATH}`;
}

export interface ConnectionOptions {
  readonly url: string;
  readonly hello: () => Omit<HelloMessage, 'type' | 'id' | 'protocol'>;
  /** Opens a socket to `url` (browser-socket.ts in a tab, the `ws` package under Node). */
  readonly createSocket: (url: string) => SocketLike;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
  /** Reconnect when the coordinator does not answer hello within this time. */
  readonly welcomeTimeoutMs?: number;
  readonly log?: LogFn;
}

const OPEN = 1;
/** A connection that lasted this long after welcome counts as healthy: the next drop retries quickly again. */
const HEALTHY_MS = 10_000;
const QUEUE_MAX = 32;

export class Connection {
  #state: ConnectionState = 'idle';
  #socket: SocketLike | null = null;
  #welcome: WelcomeMessage | null = null;
  #welcomedAt = 0;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #welcomeTimer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;
  #helloId = '';
  #left = false;
  readonly #idPrefix = Math.random().toString(36).slice(2, 10);
  readonly #queue: ClientMessage[] = [];
  readonly #handlers = new Map<ServerMessage['type'], Set<(msg: never) => void>>();
  readonly #stateListeners = new Set<(s: ConnectionState, detail?: string) => void>();
  readonly #opts: ConnectionOptions;

  constructor(opts: ConnectionOptions) {
    this.#opts = opts;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The last welcome (heartbeat interval, lease TTL); null before the first. */
  get welcome(): WelcomeMessage | null {
    return this.#welcome;
  }

  on<T extends ServerMessage['type']>(type: T, handler: ServerHandler<T>): () => void {
    let set = this.#handlers.get(type);
    if (!set) {
      set = new Set();
      this.#handlers.set(type, set);
    }
    set.add(handler as (msg: never) => void);
    return () => set.delete(handler as (msg: never) => void);
  }

  onState(listener: (s: ConnectionState, detail?: string) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  start(): void {
    if (this.#left || (this.#state !== 'idle' && this.#state !== 'stopped')) return;
    this.#connect('connecting');
  }

  /**
   * The page is going away (pagehide): stop for good, send nothing more, and
   * leave the socket for the browser to close. Chromium closes the sockets of
   * a closed or navigated page with 1001 "going away" (measured with
   * page.close(), context.close() and a navigation), which tells the
   * coordinator to hand our lease on at once; a page cannot send 1001 itself
   * (close(1001) throws InvalidAccessError: only 1000 and 3000–4999 are allowed).
   */
  leave(): void {
    this.#left = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#welcomeTimer);
    this.#queue.length = 0;
    this.#socket = null;
    this.#welcome = null;
    this.#setState('stopped', 'tab closing');
  }

  stop(detail = 'stopped'): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#welcomeTimer);
    const s = this.#socket;
    this.#socket = null;
    s?.close(1000, detail);
    this.#welcome = null;
    this.#setState('stopped', detail);
  }

  /**
   * Sends when introduced (welcome received) and returns the message id, or
   * null when not connected. With `queue`, a message that cannot go now is
   * kept (with its id) and sent after the next welcome: used for complete and
   * fail, which the coordinator must see even across a reconnect.
   */
  send(msg: OutgoingMessage, opts: { queue?: boolean } = {}): string | null {
    const full = { ...msg, id: `${this.#idPrefix}-${++this.#seq}` };
    const checked = clientMessageSchema.safeParse(full);
    if (!checked.success) {
      this.#log('error', `not sending invalid ${msg.type}: ${checked.error.issues[0]?.message ?? 'invalid'}`);
      return null;
    }
    if (this.#state === 'connected' && this.#socket?.readyState === OPEN) {
      this.#socket.send(JSON.stringify(checked.data));
      return full.id;
    }
    if (!opts.queue || this.#left) return null;
    this.#queue.push(checked.data);
    if (this.#queue.length > QUEUE_MAX) this.#queue.shift();
    return full.id;
  }

  #connect(state: 'connecting' | 'reconnecting'): void {
    this.#setState(state);
    let socket: SocketLike;
    try {
      socket = this.#opts.createSocket(this.#opts.url);
    } catch (e) {
      this.#log('warn', `cannot open ${this.#opts.url}: ${e instanceof Error ? e.message : String(e)}`);
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    let opened = false;
    /** Our own 4000 "no welcome" must not read as the coordinator's 4000 "unsupported protocol". */
    let closedByUs = false;
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      opened = true;
      const hello: HelloMessage = {
        ...this.#opts.hello(),
        type: 'hello',
        id: `${this.#idPrefix}-${++this.#seq}`,
        protocol: PROTOCOL_VERSION,
      };
      this.#helloId = hello.id;
      socket.send(JSON.stringify(hello));
      this.#welcomeTimer = setTimeout(() => {
        this.#log('warn', 'no welcome from the coordinator; reconnecting');
        closedByUs = true;
        socket.close(4000, 'no welcome');
      }, this.#opts.welcomeTimeoutMs ?? 15_000);
    };
    socket.onmessage = (ev) => {
      if (this.#socket === socket) this.#receive(ev.data);
    };
    socket.onclose = (ev) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      clearTimeout(this.#welcomeTimer);
      if (ev.code === WS_CLOSE.unsupportedProtocol && !closedByUs) {
        // The coordinator's "reload" error may not have reached us before its close did.
        this.#log('error', 'the coordinator speaks another protocol version; reload the page');
        this.#welcome = null;
        this.#setState('stopped', 'outdated page: reload');
        return;
      }
      const delay = this.#scheduleRetry();
      // A try that never connected is one line per backoff step, not a warning each.
      const why = opened ? `connection closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})` : 'coordinator unreachable';
      this.#log(opened ? 'warn' : 'info', `${why}; next try in ${(delay / 1000).toFixed(1)} s`);
    };
    socket.onerror = () => undefined; // a close event always follows; the retry happens there
  }

  #scheduleRetry(): number {
    const healthy = this.#welcomedAt > 0 && Date.now() - this.#welcomedAt >= HEALTHY_MS;
    this.#attempt = healthy ? 0 : this.#attempt + 1;
    this.#welcomedAt = 0;
    const delay = backoffDelay(this.#attempt - 1, this.#opts.backoff ?? RECONNECT_BACKOFF, this.#opts.random);
    this.#setState('reconnecting', `retrying in ${(delay / 1000).toFixed(1)} s`);
    this.#retryTimer = setTimeout(() => this.#connect('reconnecting'), delay);
    return delay;
  }

  #receive(data: unknown): void {
    if (typeof data !== 'string') {
      this.#log('error', 'ignored a binary message from the coordinator');
      return;
    }
    const parsed = parseMessage(serverMessageSchema, data);
    if (!parsed.ok) {
      this.#log('error', `ignored an invalid message from the coordinator: ${parsed.error}`);
      return;
    }
    const msg = parsed.message;
    if (msg.type === 'welcome') {
      clearTimeout(this.#welcomeTimer);
      this.#welcome = msg;
      this.#welcomedAt = Date.now();
      this.#setState('connected');
      for (const queued of this.#queue.splice(0)) this.#socket?.send(JSON.stringify(queued));
    } else if (msg.type === 'error' && msg.code === 'unsupported_protocol') {
      this.#log('error', `the coordinator speaks another protocol version (${msg.message}); reload the page`);
      this.stop('outdated page: reload');
    } else if (msg.type === 'error' && msg.code === 'unavailable' && msg.replyTo === this.#helloId && this.#state !== 'connected') {
      // Its database is down: no welcome is coming; try again with backoff rather than wait for the welcome timeout.
      this.#log('warn', `the coordinator cannot take workers now (${msg.message})`);
      this.#socket?.close(4002, 'coordinator unavailable');
      return;
    }
    for (const h of this.#handlers.get(msg.type) ?? []) {
      try {
        (h as (m: ServerMessage) => void)(msg);
      } catch (e) {
        this.#log('error', `handler for ${msg.type} threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  #setState(s: ConnectionState, detail?: string): void {
    this.#state = s;
    for (const l of this.#stateListeners) l(s, detail);
  }

  #log(level: 'info' | 'warn' | 'error', message: string): void {
    this.#opts.log?.(level, message);
  }
}
