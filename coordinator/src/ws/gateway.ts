/**
 * The WebSocket endpoint tabs connect to (`/ws/v1`) and the dispatcher that
 * hands idle tabs work. Connections are the only in-memory state, and losing
 * them loses nothing: their leases expire or are released.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { sql } from 'drizzle-orm';
import { WebSocketServer } from 'ws';
import { WS_PATH, type HelloMessage } from '@tabgrid/shared';
import { rows, type Db } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import type { Logger } from '../logger.js';
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
}

export interface WsGateway {
  /** There may be new work: try to hand it out now. */
  notifyWork(): void;
  /** Tell whichever tab holds one of these leases to stop. */
  revoke(leaseIds: ReadonlySet<string>, reason: string): void;
  connectedCount(): number;
  close(): Promise<void>;
}

const DISPATCH_INTERVAL_MS = 1000;
const PING_INTERVAL_MS = 15_000;

export function attachWsGateway(server: Server, opts: WsGatewayOptions): WsGateway {
  const log = opts.logger.child({ component: 'ws' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const connections = new Set<WorkerConnection>();
  /** Leases of tabs that dropped, by token, released unless the tab resumes them in time. */
  const graceTimers = new Map<string, NodeJS.Timeout>();
  /** When each connection said hello, so its close only marks *that* session gone. */
  const sessions = new WeakMap<WorkerConnection, Date>();
  let dispatching = false;
  let again = false;

  async function dispatch(): Promise<void> {
    if (dispatching) {
      again = true;
      return;
    }
    dispatching = true;
    try {
      do {
        again = false;
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
      } while (again);
    } catch (err) {
      log.warn({ err }, 'dispatch failed (database unavailable?); will retry');
    } finally {
      dispatching = false;
    }
  }
  const notifyWork = () => void dispatch();

  const hooks = {
    scheduler: opts.scheduler,
    leaseTtlSeconds: opts.leaseTtlSeconds,
    onIdle: notifyWork,
    async onHello(conn: WorkerConnection, msg: HelloMessage) {
      const [session] = await rows<{ connected_at: Date }>(
        opts.db,
        sql`
        INSERT INTO workers (id, name, capabilities, coordinator_id, connected_at, last_seen_at, disconnected_at)
        VALUES (${msg.workerId}, ${msg.name ?? null}, ${JSON.stringify(msg.capabilities)}::jsonb, ${opts.coordinatorId}, date_trunc('milliseconds', clock_timestamp()), now(), NULL)
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, capabilities = EXCLUDED.capabilities,
          coordinator_id = EXCLUDED.coordinator_id, connected_at = EXCLUDED.connected_at, last_seen_at = now(), disconnected_at = NULL
        RETURNING connected_at`,
      );
      if (session) sessions.set(conn, session.connected_at);
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
        ? opts.db.execute(sql`UPDATE workers SET disconnected_at = now() WHERE id = ${workerId} AND connected_at = ${session}`)
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
          .then(notifyWork)
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

  const dispatchTimer = setInterval(notifyWork, DISPATCH_INTERVAL_MS);
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
    notifyWork,
    revoke(leaseIds, reason) {
      for (const conn of connections) if (conn.lease && leaseIds.has(conn.lease.leaseId)) conn.revoke(conn.lease.leaseId, reason);
    },
    connectedCount: () => connections.size,
    async close() {
      clearInterval(dispatchTimer);
      clearInterval(pingTimer);
      for (const t of graceTimers.values()) clearTimeout(t);
      server.off('upgrade', onUpgrade);
      for (const conn of connections) conn.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
