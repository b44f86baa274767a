/**
 * The WebSocket endpoint tabs connect to (`/ws/v1`) and the dispatcher that
 * hands idle tabs work. Connections are the only in-memory state, and losing
 * them loses nothing: their leases expire or are released.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { WS_PATH, type HelloMessage } from '@tabgrid/shared';
import type { Db } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type Notifier, Waker } from '../notify/index.js';
import { closeSession, openSession } from '../workers/worker-table.js';
import type { TaskScheduler } from '../scheduler/task-scheduler.js';
import { WorkerConnection } from './connection.js';

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
}

export interface WsGateway {
  connectedCount(): number;
  close(): Promise<void>;
}

/** Notifications wake the dispatcher; this poll only catches work whose notification was lost. */
const DISPATCH_SAFETY_POLL_MS = 5000;
const PING_INTERVAL_MS = 15_000;

export function attachWsGateway(server: Server, opts: WsGatewayOptions): WsGateway {
  const log = opts.logger.child({ component: 'ws' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const connections = new Set<WorkerConnection>();
  /** Leases of tabs that dropped, by token, released unless the tab resumes them in time. */
  const graceTimers = new Map<string, NodeJS.Timeout>();
  /** When each connection said hello, so its close only marks *that* session gone. */
  const sessions = new WeakMap<WorkerConnection, Date>();
  /** Wakes the dispatch loop (below): any coordinator announced work, or a tab here became idle. */
  const waker = new Waker(opts.notifier, ['work']);

  /** One dispatch round: each idle tab, longest-waiting first, is offered the next task. */
  async function dispatchRound(): Promise<void> {
    try {
      // Longest-waiting tab first: fair, and a tab whose lease was just revoked
      // (it went silent) does not get the same task straight back ahead of the others.
      const waiting = [...connections].filter((c) => c.idle).sort((a, b) => a.lastAssignedAt - b.lastAssignedAt);
      for (const conn of waiting) {
        if (!conn.idle) continue;
        const assignment = await opts.scheduler.assign(conn.workerId!);
        // Nothing for this worker (no work, or it is quarantined): the next one may still get some.
        if (!assignment) continue;
        if (!conn.idle) {
          // The tab went away while we claimed: its lease is released with the others below.
          continue;
        }
        conn.assign(assignment);
      }
    } catch (err) {
      log.warn({ err }, 'dispatch failed (database unavailable?); will retry');
    }
  }

  const hooks = {
    scheduler: opts.scheduler,
    leaseTtlSeconds: opts.leaseTtlSeconds,
    onIdle: () => waker.poke(),
    async onHello(conn: WorkerConnection, msg: HelloMessage) {
      const session = await openSession(opts.db, {
        workerId: msg.workerId,
        name: msg.name ?? null,
        capabilities: msg.capabilities,
        coordinatorId: opts.coordinatorId,
      });
      opts.notifier.publish({ kind: 'workers' });
      if (session) sessions.set(conn, session);
      if (msg.resume) {
        const timer = graceTimers.get(msg.resume.token);
        if (timer) clearTimeout(timer);
        graceTimers.delete(msg.resume.token);
        try {
          await opts.scheduler.resume(msg.resume);
          conn.lease = { leaseId: msg.resume.leaseId, token: msg.resume.token };
          log.info({ workerId: msg.workerId, leaseId: msg.resume.leaseId }, 'worker reconnected and resumed its lease');
        } catch (err) {
          if (!(err instanceof LeaseLostError)) throw err;
          // Told after the welcome, so the tab knows who is talking first.
          setImmediate(() => conn.revoke(msg.resume!.leaseId, 'the lease expired or was reassigned while the tab was away'));
        }
      } else {
        await opts.scheduler.releaseAll(msg.workerId);
      }
      log.info({ workerId: msg.workerId, capabilities: msg.capabilities, resumed: Boolean(msg.resume) }, 'worker connected');
    },
  };

  function onConnection(ws: import('ws').WebSocket): void {
    const conn = new WorkerConnection(ws, hooks, log);
    connections.add(conn);
    ws.on('pong', () => (conn.alive = true));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return conn.sendError('invalid_message', 'binary messages are not part of the protocol');
      void conn.handle(data.toString());
    });
    ws.on('close', (code) => {
      connections.delete(conn);
      const workerId = conn.workerId;
      const lease = conn.lease;
      if (!workerId) return;
      log.info({ workerId, holding: lease?.leaseId }, 'worker disconnected');
      const session = sessions.get(conn);
      // Only this session (connected_at is kept to the millisecond so a JS Date matches it exactly):
      // the tab may already have reconnected, here or to another coordinator.
      const marked = session
        ? closeSession(opts.db, { workerId, connectedAt: session }).then(() => opts.notifier.publish({ kind: 'workers' }))
        : Promise.resolve();
      if (!lease) {
        marked.catch(() => undefined);
        return;
      }
      // A clean close means the tab is not coming back for this lease: 1001 "going away"
      // (Chromium closes a closed or navigated page's sockets with it) or 1000 (the
      // volunteer paused). Only a dropped connection (1006) waits for the tab to return.
      const gone = code === 1000 || code === 1001;
      const graceMs = gone ? 0 : opts.disconnectGraceSeconds * 1000;
      const timer = setTimeout(() => {
        graceTimers.delete(lease.token);
        marked
          .then(() =>
            opts.scheduler.release(
              workerId,
              [lease.token],
              gone ? 'the tab was closed or paused' : `worker disconnected and did not return within ${opts.disconnectGraceSeconds} s`,
            ),
          )
          .catch((err: unknown) => log.warn({ err, workerId }, 'could not release leases; they will expire'));
      }, graceMs);
      graceTimers.set(lease.token, timer);
    });
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (pathname !== WS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, onConnection);
  }
  server.on('upgrade', onUpgrade);

  // A round whenever any coordinator announces work, a tab here becomes idle, or the safety poll comes round.
  let closed = false;
  const dispatchLoop = (async () => {
    while (!closed) {
      await dispatchRound();
      await waker.wait(DISPATCH_SAFETY_POLL_MS);
    }
  })();
  const unsubscribeRevoke = opts.notifier.subscribe(['revoke'], (e) => {
    if (e.kind !== 'revoke') return;
    const ids = new Set(e.leaseIds);
    for (const conn of connections) if (conn.lease && ids.has(conn.lease.leaseId)) conn.revoke(conn.lease.leaseId, e.reason);
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

  return {
    connectedCount: () => connections.size,
    async close() {
      closed = true;
      waker.close();
      unsubscribeRevoke();
      await dispatchLoop;
      clearInterval(pingTimer);
      for (const t of graceTimers.values()) clearTimeout(t);
      server.off('upgrade', onUpgrade);
      for (const conn of connections) conn.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
