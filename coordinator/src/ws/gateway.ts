/**
 * The WebSocket endpoint tabs connect to (`/ws/v1`): admission per address,
 * hellos (identity and session), grace periods for tabs that drop, and the
 * dispatch loop (dispatcher.ts). Connections are the only in-memory state,
 * and losing them loses nothing: their leases expire or are released.
 *
 * Nothing a stranger sends may take the process down: every socket, raw or
 * upgraded, has an error listener (the `ws` server emits 'error' on a socket
 * for an oversized frame, invalid UTF-8 or a reserved opcode, and without a
 * listener Node exits: docs/facts.md, "WebSocket and browsers"); the library
 * then closes that socket with the matching code (1009, 1007, 1002).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_PATH, type HelloMessage } from '@tabgrid/shared';
import type { WsLimits } from '../config.js';
import type { Db } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import type { HostAllowList } from '../http/host-allow-list.js';
import type { Logger } from '../logger.js';
import { type Notifier, Waker } from '../notify/index.js';
import type { TaskScheduler } from '../scheduler/task-scheduler.js';
import { loadSecret } from '../secrets/secret-table.js';
import { closeSession, openSession, pruneIdleWorkers } from '../workers/worker-table.js';
import { clientAddress } from './client-address.js';
import { WorkerConnection } from './connection.js';
import { type WorkerCredentials, type WorkerIdentity, workerCredentials } from './credentials.js';
import { dispatchRound } from './dispatcher.js';
import { AddressLimits, BoundedQueue } from './limits.js';

export interface WsGatewayOptions {
  readonly db: Db;
  readonly scheduler: TaskScheduler;
  readonly logger: Logger;
  readonly coordinatorId: string;
  readonly leaseTtlSeconds: number;
  /** A tab that drops keeps its lease this long before it is handed on (a reload or a brief network blip). */
  readonly disconnectGraceSeconds: number;
  /** Wakes the dispatcher when there is work, and carries revocations from every coordinator. */
  readonly notifier: Notifier;
  readonly limits: WsLimits;
  /** Reverse proxies of ours in front (ws/client-address.ts); 0 ignores X-Forwarded-For. */
  readonly trustProxy: number;
  /** The Host names this coordinator answers to (DNS rebinding: a page on another name must not reach the socket). */
  readonly hosts?: HostAllowList;
}

export interface WsGateway {
  connectedCount(): number;
  close(): Promise<void>;
}

/** Notifications wake the dispatcher; this poll only catches work whose notification was lost. */
const DISPATCH_SAFETY_POLL_MS = 5000;
const PING_INTERVAL_MS = 15_000;
/** Per-address counters of addresses gone quiet are forgotten this often. */
const SWEEP_MS = 60_000;
/** Workers with no history that left more than an hour ago are deleted this often (every credential-less hello makes one). */
const PRUNE_MS = 10 * 60_000;
const PRUNE_AFTER_SECONDS = 3600;

export function attachWsGateway(server: Server, opts: WsGatewayOptions): WsGateway {
  const log = opts.logger.child({ component: 'ws' });
  const { limits } = opts;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxMessageBytes,
    // A tab sends each message as one frame; thousands of fragments are only ever an attack.
    maxFragments: 64,
  });
  wss.on('error', (err) => log.warn({ err: err.message }, 'WebSocket server error'));
  wss.on('wsClientError', (err, socket) => {
    log.info({ err: err.message }, 'refused a malformed WebSocket handshake');
    socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  const connections = new Set<WorkerConnection>();
  const addressLimits = new AddressLimits({ maxOpen: limits.maxConnectionsPerAddress, perMinute: limits.connectionsPerMinute });
  const hellos = new BoundedQueue(limits.helloConcurrency, limits.maxPendingHellos);
  /** Ends of sessions, paced like hellos (a NAT dropping hundreds of tabs at once is a flood too), but never refused. */
  const goodbyes = new BoundedQueue(limits.helloConcurrency, Number.MAX_SAFE_INTEGER);
  /**
   * Leases of tabs that dropped, by token: one release per dropped tab for
   * the tokens it held, unless the tab resumes them in time (each token
   * resumed leaves the release; the last one cancels it).
   */
  const graceTimers = new Map<string, { timer: NodeJS.Timeout; tokens: Set<string> }>();
  /** Wakes the dispatch loop (below): any coordinator announced work, or a tab here became idle. */
  const waker = new Waker(opts.notifier, ['work']);

  /** The worker-credentials secret, read once (retried after a failure: the database may be down at first). */
  let credentialsLoad: Promise<WorkerCredentials> | undefined;
  const credentials = () => {
    credentialsLoad ??= loadSecret(opts.db, 'worker-credentials')
      .then(workerCredentials)
      .catch((err: unknown) => {
        credentialsLoad = undefined;
        throw err;
      });
    return credentialsLoad;
  };

  /** Who the tab is, and its session. Runs in the bounded hello queue. */
  async function introduce(conn: WorkerConnection, msg: HelloMessage): Promise<WorkerIdentity | 'gone'> {
    // A tab that left while its hello waited costs nothing more.
    if (conn.ws.readyState !== conn.ws.OPEN) return 'gone';
    const creds = await credentials();
    const proven = msg.credential === undefined ? null : creds.verify(msg.credential);
    const identity: WorkerIdentity = proven ? { workerId: proven, credential: msg.credential! } : creds.issue();
    const { workerId } = identity;
    if (msg.credential !== undefined && !proven) {
      // Never logged: the credential itself. A forged one is someone's attempt to be someone else.
      log.warn(
        { workerId, address: conn.address },
        'hello with a credential that does not verify (forged, stale or foreign): new identity',
      );
    }
    const session = await openSession(opts.db, {
      workerId,
      name: msg.name ?? null,
      capabilities: msg.capabilities,
      coordinatorId: opts.coordinatorId,
      address: conn.address,
    });
    conn.workerId = workerId;
    conn.session = session;
    opts.notifier.publish({ kind: 'workers' });
    if (conn.ws.readyState !== conn.ws.OPEN) {
      // Closed while the session opened: its close saw no session to end, so end it here.
      if (session) await closeSession(opts.db, { workerId, connectedAt: session });
      return 'gone';
    }
    if (proven && msg.resume) {
      await resumeLeases(conn, workerId, msg.resume);
    } else if (msg.resume) {
      // Leases named by a tab that proved no identity are never touched: not resumed, not released.
      const named = msg.resume.map((l) => l.leaseId);
      setImmediate(() => {
        for (const leaseId of named) conn.revoke(leaseId, 'this tab has a new identity; the lease it names is not its own');
      });
    } else if (proven) {
      await opts.scheduler.releaseAll(workerId);
    }
    log.info(
      { workerId, address: conn.address, identity: proven ? 'kept' : 'new', capabilities: msg.capabilities, resumed: Boolean(msg.resume) },
      'worker connected',
    );
    return identity;
  }

  /**
   * A reconnecting tab keeps each lease it names that is still its own and
   * current; the others are revoked. Kept ones count as encoding until the
   * tab's next heartbeat says otherwise (it sends one right after the
   * welcome), so the tab is not sent new work on top of a batch it encodes.
   */
  async function resumeLeases(conn: WorkerConnection, workerId: string, leases: readonly { leaseId: string; token: string }[]) {
    const lost: string[] = [];
    for (const lease of leases) {
      try {
        await opts.scheduler.resume(workerId, lease);
      } catch (err) {
        if (!(err instanceof LeaseLostError)) throw err;
        lost.push(lease.leaseId);
        continue;
      }
      // Its own lease, resumed: the release pending since its socket dropped is off.
      const pending = graceTimers.get(lease.token);
      graceTimers.delete(lease.token);
      pending?.tokens.delete(lease.token);
      if (pending?.tokens.size === 0) clearTimeout(pending.timer);
      conn.leases.set(lease.leaseId, { token: lease.token, encoding: true });
    }
    log.info({ workerId, resumed: leases.length - lost.length, lost: lost.length }, 'worker reconnected and resumed its leases');
    // Told after the welcome, so the tab knows who is talking first.
    if (lost.length > 0) {
      setImmediate(() => {
        for (const leaseId of lost) conn.revoke(leaseId, 'the lease expired or was reassigned while the tab was away');
      });
    }
  }

  const hooks = {
    scheduler: opts.scheduler,
    leaseTtlSeconds: opts.leaseTtlSeconds,
    onIdle: () => waker.poke(),
    async onHello(conn: WorkerConnection, msg: HelloMessage): Promise<WorkerIdentity | null> {
      const queued = await hellos.run(() => introduce(conn, msg));
      if (!queued.ok) {
        log.warn({ address: conn.address, waiting: hellos.pending }, 'too many hellos waiting; told the tab to come back later');
        return null;
      }
      return queued.value === 'gone' ? null : queued.value;
    },
  };

  function onConnection(ws: WebSocket, address: string): void {
    const conn = new WorkerConnection(ws, address, hooks, limits, log);
    connections.add(conn);
    ws.on('error', (err: Error & { code?: string }) => {
      // The library closes the socket with the matching code (1009, 1007, 1002, 1008) right after this.
      log.info({ err: err.message, code: err.code, address, workerId: conn.workerId }, 'closing a connection that sent an invalid frame');
    });
    ws.on('pong', () => (conn.alive = true));
    ws.on('ping', () => conn.spend());
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (conn.spend()) conn.sendError('invalid_message', 'binary messages are not part of the protocol');
        return;
      }
      conn.handle(data.toString()).catch((err: unknown) => log.error({ err, workerId: conn.workerId }, 'message handler failed'));
    });
    ws.on('close', (code) => onClose(conn, code));
  }

  function onClose(conn: WorkerConnection, code: number): void {
    conn.closed();
    connections.delete(conn);
    const { workerId, session } = conn;
    if (!workerId) return;
    const tokens = conn.heldTokens();
    log.info({ workerId, holding: [...conn.leases.keys()], code }, 'worker disconnected');
    // Only this session (connected_at is kept to the millisecond so a JS Date matches it exactly):
    // the tab may already have reconnected, here or to another coordinator.
    const marked = session
      ? goodbyes.run(() => closeSession(opts.db, { workerId, connectedAt: session })).then(() => opts.notifier.publish({ kind: 'workers' }))
      : Promise.resolve();
    if (tokens.length === 0) {
      marked.catch(() => undefined);
      return;
    }
    // A clean close means the tab is not coming back for this lease: 1001 "going away"
    // (Chromium closes a closed or navigated page's sockets with it) or 1000 (the
    // volunteer paused). Only a dropped connection (1006) waits for the tab to return.
    const gone = code === 1000 || code === 1001;
    const graceMs = gone ? 0 : opts.disconnectGraceSeconds * 1000;
    const left = new Set(tokens);
    const timer = setTimeout(() => {
      for (const t of left) graceTimers.delete(t);
      marked
        .then(() =>
          opts.scheduler.release(
            workerId,
            [...left],
            gone ? 'the tab was closed or paused' : `worker disconnected and did not return within ${opts.disconnectGraceSeconds} s`,
          ),
        )
        .catch((err: unknown) => log.warn({ err, workerId }, 'could not release leases; they will expire'));
    }, graceMs);
    for (const t of tokens) graceTimers.set(t, { timer, tokens: left });
  }

  function refuse(socket: Duplex, status: string, message: string): void {
    socket.end(
      `HTTP/1.1 ${status}\r\nConnection: close\r\nRetry-After: 10\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
    );
  }

  let closed = false;
  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // A reset during the handshake must not become an uncaught 'error'.
    socket.on('error', (err) => log.debug({ err: err.message }, 'socket error during the WebSocket handshake'));
    if (closed) {
      // Still attached while the server closes: an upgrade in that window must not reach the HTTP app (index.html, 200).
      refuse(socket, '503 Service Unavailable', 'the coordinator is restarting; reconnect in a few seconds');
      return;
    }
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (pathname !== WS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (opts.hosts && !opts.hosts.allows(req.headers.host, req.socket.localPort)) {
      log.info({ host: req.headers.host?.slice(0, 100) }, 'refused a WebSocket connection for a foreign Host');
      socket.end(`HTTP/1.1 421 Misdirected Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const address = clientAddress(req, opts.trustProxy);
    if (address.fallback) log.warn({ address: address.key, problem: address.fallback }, 'TRUST_PROXY is set but the proxy header is not');
    const admitted = addressLimits.admit(address.key);
    if (!admitted.ok) {
      log.info({ address: address.key, reason: admitted.reason }, 'refused a WebSocket connection');
      refuse(socket, '429 Too Many Requests', admitted.reason);
      return;
    }
    // The slot is held until the socket closes, whether or not the handshake completes.
    socket.once('close', admitted.release);
    if (socket.destroyed) admitted.release();
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, address.key));
  }
  server.on('upgrade', onUpgrade);

  // A round whenever any coordinator announces work, a tab here becomes idle, or the safety poll comes round.
  const dispatchLoop = (async () => {
    while (!closed) {
      try {
        await dispatchRound(opts.scheduler, connections, log);
      } catch (err) {
        log.warn({ err }, 'dispatch failed (database unavailable?); will retry');
      }
      await waker.wait(DISPATCH_SAFETY_POLL_MS);
    }
  })();
  const unsubscribeRevoke = opts.notifier.subscribe(['revoke'], (e) => {
    if (e.kind !== 'revoke') return;
    const ids = new Set(e.leaseIds);
    for (const conn of connections) for (const leaseId of [...conn.leases.keys()]) if (ids.has(leaseId)) conn.revoke(leaseId, e.reason);
  });
  const pingTimer = setInterval(() => {
    for (const conn of connections) {
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, PING_INTERVAL_MS);
  const sweepTimer = setInterval(() => addressLimits.sweep(), SWEEP_MS);
  sweepTimer.unref();
  const pruneTimer = setInterval(() => {
    pruneIdleWorkers(opts.db, { olderThanSeconds: PRUNE_AFTER_SECONDS })
      .then((n) => n > 0 && log.info({ deleted: n }, 'forgot workers that never worked and left over an hour ago'))
      .catch((err: unknown) => log.warn({ err }, 'could not prune idle workers; will retry'));
  }, PRUNE_MS);
  pruneTimer.unref();

  return {
    connectedCount: () => connections.size,
    async close() {
      closed = true;
      waker.close();
      unsubscribeRevoke();
      await dispatchLoop;
      clearInterval(pingTimer);
      clearInterval(sweepTimer);
      clearInterval(pruneTimer);
      for (const p of new Set(graceTimers.values())) clearTimeout(p.timer);
      // The upgrade listener stays (refusing with 503) until the HTTP server itself closes.
      for (const conn of connections) conn.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
