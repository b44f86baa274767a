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
/** Lease ids the fake scheduler says a heartbeat lost. */
let lostOnBeat: string[];
beforeEach(() => {
  vi.useFakeTimers();
  ws = new FakeWs();
  idle = 0;
  lostOnBeat = [];
  const hooks: ConnectionHooks = {
    scheduler: { heartbeat: async () => lostOnBeat } as unknown as TaskScheduler,
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

  it('protocol 3: takes no work while a batch needs the encoder; a ready heartbeat frees it; a lost lease is revoked alone', async () => {
    await conn.handle(hello({ capabilities: { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false, maxRungs: 3 } }));
    expect(conn.maxRungs).toBe(3);
    const rung = (n: number) => ({
      leaseId: `l${n}`,
      token: `t${n}`,
      attempt: 1,
      output: { url: 'http://s/x', contentType: 'video/mp4' as const },
      params: {} as never,
    });
    conn.assign({ jobId: 'j', chunk: 0, input: { url: 'http://s/c', size: 1 }, rungs: [rung(1), rung(2), rung(3)] });
    expect(conn.idle).toBe(false);
    const beat = (ready: boolean, ids = ['l1', 'l2', 'l3']) =>
      JSON.stringify({
        type: 'heartbeat',
        id: `b${Math.random()}`,
        leases: ids.map((l) => ({ leaseId: l, token: `t${l.slice(1)}` })),
        progress: 0.9,
        stage: 'transcoding',
        ...(ready ? { ready } : {}),
      });
    const wakes = idle;
    await conn.handle(beat(false));
    expect(conn.idle).toBe(false);
    vi.advanceTimersByTime(1000);
    lostOnBeat = ['l2'];
    await conn.handle(beat(true));
    expect(ws.sent.filter((m) => m.type === 'revoke').map((m) => m.leaseId)).toEqual(['l2']);
    expect([...conn.leases.keys()]).toEqual(['l1', 'l3']);
    expect(conn.idle).toBe(true);
    expect(idle).toBeGreaterThan(wakes);
    // A ready heartbeat cannot free leases the tab does not hold here.
    conn.assign({ jobId: 'j', chunk: 1, input: { url: 'http://s/c', size: 1 }, rungs: [rung(4)] });
    lostOnBeat = [];
    vi.advanceTimersByTime(1000);
    await conn.handle(beat(true, ['l1', 'l9']));
    expect(conn.idle).toBe(false);
  });

  it('protocol 3: stops taking work once two batches wait for uploads or verdicts', async () => {
    await conn.handle(hello({ capabilities: { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false, maxRungs: 2 } }));
    for (let n = 1; n <= 4; n++) conn.leases.set(`l${n}`, { token: `t${n}`, encoding: false });
    expect(conn.idle).toBe(true);
    conn.verifying = 1;
    expect(conn.idle).toBe(false);
  });

  it('a tab of another version hears "reload" even when its hello does not parse here', async () => {
    await conn.handle(JSON.stringify({ type: 'hello', id: 'old', protocol: 2, capabilities: {}, resume: { leaseId: 'l', token: 't' } }));
    expect(ws.sent).toEqual([expect.objectContaining({ type: 'error', code: 'unsupported_protocol', replyTo: 'old' })]);
    expect(ws.closedWith?.[0]).toBe(4000);
  });
});
