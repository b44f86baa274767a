import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { PROTOCOL_VERSION } from '@tabgrid/shared';
import type { TaskScheduler } from '../scheduler/task-scheduler.js';
import { type ConnectionHooks, WorkerConnection } from './connection.js';

/** The part of a ws WebSocket a connection uses. */
class FakeWs {
  readonly OPEN = 1;
  readyState = 1;
  sent: Record<string, unknown>[] = [];
  closedWith: [number, string] | undefined;
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
    this.readyState = 2;
  }
}

const hello = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'hello',
    id: 'h1',
    protocol: PROTOCOL_VERSION,
    capabilities: { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false },
    ...extra,
  });
const limits = { helloTimeoutSeconds: 2, messagesPerSecond: 1, messageBurst: 5 };

let ws: FakeWs;
let idle: number;
let conn: WorkerConnection;
beforeEach(() => {
  vi.useFakeTimers();
  ws = new FakeWs();
  idle = 0;
  const hooks: ConnectionHooks = {
    scheduler: {} as TaskScheduler,
    leaseTtlSeconds: 30,
    onHello: async () => ({ workerId: 'wIssuedByServer01', credential: 'wIssuedByServer01.mac' }),
    onIdle: () => idle++,
  };
  conn = new WorkerConnection(ws as never, '127.0.0.1', hooks, limits, pino({ level: 'silent' }));
});
afterEach(() => {
  conn.closed();
  vi.useRealTimers();
});

describe('WorkerConnection', () => {
  it('welcomes with the identity the gateway established, whatever the tab wrote', async () => {
    await conn.handle(hello({ workerId: 'chosen_by_tab' }));
    expect(ws.sent[0]).toMatchObject({
      type: 'welcome',
      replyTo: 'h1',
      workerId: 'wIssuedByServer01',
      credential: 'wIssuedByServer01.mac',
    });
    expect(conn.workerId).toBe('wIssuedByServer01');
    expect(conn.idle).toBe(true);
  });

  it('refuses lease messages before the welcome and a second hello after it', async () => {
    await conn.handle(JSON.stringify({ type: 'fail', id: 'f1', leaseId: 'l', token: 't', reason: 'x' }));
    expect(ws.sent[0]).toMatchObject({ type: 'error', code: 'not_introduced', replyTo: 'f1' });
    await conn.handle(hello());
    await conn.handle(hello({ id: 'h2' }));
    expect(ws.sent.at(-1)).toMatchObject({ type: 'error', code: 'invalid_message', replyTo: 'h2' });
    expect(ws.sent.filter((m) => m.type === 'welcome')).toHaveLength(1);
  });

  it('closes a socket with no hello by the deadline (1008), and not one that said hello', async () => {
    vi.advanceTimersByTime(1999);
    expect(ws.closedWith).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(ws.closedWith).toEqual([1008, 'no hello within 2 s']);
    const other = new FakeWs();
    const c2 = new WorkerConnection(
      other as never,
      '127.0.0.1',
      { onHello: async () => ({ workerId: 'w', credential: 'c' }) } as never,
      limits,
      pino({ level: 'silent' }),
    );
    await c2.handle(hello());
    vi.advanceTimersByTime(10_000);
    expect(other.closedWith).toBeUndefined();
  });

  it('tells a stale tab to reload and closes with 4000', async () => {
    await conn.handle(hello({ protocol: 1, workerId: 'old_page_id' }));
    expect(ws.sent[0]).toMatchObject({ type: 'error', code: 'unsupported_protocol' });
    expect(ws.closedWith?.[0]).toBe(4000);
  });

  it('closes with 1008 once the message budget is spent, and ignores what follows', async () => {
    for (let i = 0; i < 5; i++) expect(conn.spend()).toBe(true);
    expect(conn.spend()).toBe(false);
    expect(ws.closedWith).toEqual([1008, 'too many messages']);
    await conn.handle(hello());
    expect(ws.sent).toEqual([]);
  });

  it('a revoked lease puts the tab at the back of the line and wakes the dispatcher', async () => {
    await conn.handle(hello());
    conn.leases.set('l1', { token: 't1', encoding: true });
    const before = conn.waitingSince;
    const wakes = idle;
    vi.advanceTimersByTime(5000);
    conn.revoke('l1', 'expired');
    expect(conn.leases.size).toBe(0);
    expect(conn.waitingSince).toBe(before + 5000);
    expect(idle).toBe(wakes + 1);
    expect(ws.sent.at(-1)).toMatchObject({ type: 'revoke', leaseId: 'l1' });
  });
});
