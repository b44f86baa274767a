import { PROTOCOL_VERSION, backoffDelay, type Capabilities } from '@tabgrid/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Connection, RECONNECT_BACKOFF, wsUrl, type ConnectionState } from './connection.js';
import { FakeSocket } from './testing/fake-socket.js';

const caps: Capabilities = { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false };
const welcome = (replyTo: string) => ({
  type: 'welcome',
  id: 'w1',
  replyTo,
  protocol: PROTOCOL_VERSION,
  workerId: 'worker-abcdef',
  credential: 'worker-abcdef.mac',
  leaseTtlSeconds: 30,
  heartbeatIntervalSeconds: 5,
});
const last = () => FakeSocket.all.at(-1)!;

let conn: Connection;
let logs: [string, string][];
let states: ConnectionState[];

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  logs = [];
  states = [];
  conn = new Connection({
    url: 'ws://host.test/ws/v1',
    hello: () => ({ credential: 'worker-abcdef.mac', capabilities: caps }),
    createSocket: (url) => new FakeSocket(url),
    random: () => 0,
    log: (level, message) => logs.push([level, message]),
  });
  conn.onState((s) => states.push(s));
});
afterEach(() => {
  conn.stop();
  vi.useRealTimers();
});

function connect(): FakeSocket {
  conn.start();
  const s = last();
  s.open();
  s.receive(welcome(String(s.sent[0]?.id)));
  return s;
}

describe('Connection', () => {
  it('says hello with protocol, credential and capabilities, and is connected only after welcome', () => {
    conn.start();
    const s = last();
    expect(s.url).toBe('ws://host.test/ws/v1');
    expect(conn.state).toBe('connecting');
    s.open();
    expect(s.sent[0]).toMatchObject({ type: 'hello', protocol: PROTOCOL_VERSION, credential: 'worker-abcdef.mac', capabilities: caps });
    expect(conn.state).toBe('connecting');
    s.receive(welcome(String(s.sent[0]?.id)));
    expect(conn.state).toBe('connected');
    expect(conn.welcome?.heartbeatIntervalSeconds).toBe(5);
  });

  it('dispatches valid server messages by type and ignores invalid ones with an error log', () => {
    const s = connect();
    const revokes: string[] = [];
    conn.on('revoke', (m) => revokes.push(m.leaseId));
    s.receive('not json');
    s.receive({ type: 'revoke', id: 'r1' });
    s.receive({ type: 'nonsense', id: 'n1' });
    s.receive({ type: 'revoke', id: 'r2', leaseId: 'lease-1', reason: 'expired' });
    expect(revokes).toEqual(['lease-1']);
    expect(logs.filter(([l]) => l === 'error')).toHaveLength(3);
  });

  it('sends with fresh unique ids, validated', () => {
    const s = connect();
    const a = conn.send({ type: 'heartbeat', leases: [{ leaseId: 'l1', token: 't1' }], progress: 0.5, stage: 'transcoding' });
    const b = conn.send({ type: 'heartbeat', leases: [{ leaseId: 'l1', token: 't1' }], progress: 0.6, stage: 'transcoding' });
    expect(a).not.toBe(b);
    expect(s.sent.slice(1).map((m) => m.id)).toEqual([a, b]);
    expect(conn.send({ type: 'heartbeat', leases: [{ leaseId: 'l1', token: 't1' }], progress: 2, stage: 'transcoding' })).toBeNull();
  });

  it('drops unqueued messages while disconnected and delivers queued ones after the next welcome', () => {
    const s1 = connect();
    s1.drop();
    expect(conn.send({ type: 'heartbeat', leases: [{ leaseId: 'l1', token: 't1' }], progress: 0.5, stage: 'transcoding' })).toBeNull();
    const id = conn.send({ type: 'fail', leaseId: 'l1', token: 't1', reason: 'x' }, { queue: true });
    vi.advanceTimersByTime(500);
    const s2 = last();
    expect(s2).not.toBe(s1);
    s2.open();
    s2.receive(welcome(String(s2.sent[0]?.id)));
    expect(s2.sent.map((m) => m.type)).toEqual(['hello', 'fail']);
    expect(s2.sent[1]?.id).toBe(id);
  });

  it('reconnects with exponential backoff after drops', () => {
    conn.start();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const before = FakeSocket.all.length;
      last().drop();
      expect(conn.state).toBe('reconnecting');
      let waited = 0;
      while (FakeSocket.all.length === before) {
        vi.advanceTimersByTime(100);
        waited += 100;
      }
      delays.push(waited);
    }
    // random() = 0 gives the lower bound, half of 1 s × 2^n, capped at 30 s.
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15_000, 15_000]);
  });

  it('closes and retries when no welcome arrives', () => {
    conn.start();
    const s = last();
    s.open();
    vi.advanceTimersByTime(15_000);
    expect(s.closed?.code).toBe(4000);
    expect(conn.state).toBe('reconnecting');
  });

  it('stops for good on unsupported_protocol', () => {
    const s = connect();
    s.receive({ type: 'error', id: 'e1', code: 'unsupported_protocol', message: 'protocol 2 required' });
    expect(conn.state).toBe('stopped');
    vi.advanceTimersByTime(120_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('stops for good when closed with 4000 (unsupported protocol) even if the error message was lost', () => {
    const s = connect();
    s.drop(4000, 'unsupported protocol');
    expect(conn.state).toBe('stopped');
    expect(logs).toContainEqual(['error', 'the coordinator speaks another protocol version; reload the page']);
    vi.advanceTimersByTime(120_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('reconnects with backoff after the coordinator closes it for sending too much (1008) or being busy (1013)', () => {
    for (const code of [1008, 1013]) {
      const before = FakeSocket.all.length;
      const s = before === 0 ? connect() : last();
      if (before > 0) {
        s.open();
        s.receive(welcome(String(s.sent[0]?.id)));
      }
      s.drop(code);
      expect(conn.state).toBe('reconnecting');
      vi.advanceTimersByTime(30_000);
      expect(FakeSocket.all.length).toBeGreaterThan(before === 0 ? 1 : before);
    }
  });
});

describe('Connection across failures', () => {
  it('asks hello() afresh for every connection, so a reconnect names the lease still in hand', () => {
    let resume: { leaseId: string; token: string }[] | undefined;
    conn.stop();
    conn = new Connection({
      url: 'ws://host.test/ws/v1',
      hello: () => ({ credential: 'worker-abcdef.mac', capabilities: caps, ...(resume ? { resume } : {}) }),
      createSocket: (url) => new FakeSocket(url),
      random: () => 0,
    });
    const s1 = connect();
    expect(s1.sent[0]).not.toHaveProperty('resume');
    resume = [{ leaseId: 'lease-1', token: 'tok-1' }];
    s1.drop(1006);
    vi.advanceTimersByTime(500);
    last().open();
    expect(last().sent[0]).toMatchObject({ type: 'hello', resume: [{ leaseId: 'lease-1', token: 'tok-1' }] });
  });

  it('retries with backoff when the coordinator answers hello with unavailable', () => {
    conn.start();
    const s = last();
    s.open();
    s.receive({ type: 'error', id: 'e1', replyTo: String(s.sent[0]?.id), code: 'unavailable', message: 'database down' });
    expect(s.closed?.code).toBe(4002);
    expect(conn.state).toBe('reconnecting');
    vi.advanceTimersByTime(500);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('leave() stops for good without closing the socket itself (the browser closes it with 1001) and sends nothing more', () => {
    const s = connect();
    conn.send({ type: 'fail', leaseId: 'l1', token: 't1', reason: 'x' }, { queue: true });
    const before = s.sent.length;
    conn.leave();
    expect(s.closed).toBeNull();
    expect(conn.state).toBe('stopped');
    expect(conn.send({ type: 'fail', leaseId: 'l1', token: 't1', reason: 'tab closed' }, { queue: true })).toBeNull();
    conn.start();
    s.drop(1001);
    vi.advanceTimersByTime(120_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(s.sent).toHaveLength(before);
  });
});

describe('RECONNECT_BACKOFF', () => {
  it('stays within [base/2, base] and under the cap', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(30_000, 1000 * 2 ** attempt);
      expect(backoffDelay(attempt, RECONNECT_BACKOFF, () => 0)).toBe(base / 2);
      expect(backoffDelay(attempt, RECONNECT_BACKOFF, () => 0.999999)).toBeLessThanOrEqual(base);
    }
  });
});

describe('wsUrl', () => {
  it('follows the page scheme and host', () => {
    expect(wsUrl({ protocol: 'https:', host: 'grid.example:8443' })).toBe('wss://grid.example:8443/ws/v1');
    expect(wsUrl({ protocol: 'http:', host: '127.0.0.1:8000' })).toBe('ws://127.0.0.1:8000/ws/v1');
  });
});
