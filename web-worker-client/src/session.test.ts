import { PROTOCOL_VERSION } from '@tabgrid/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Session } from './session.js';
import { FakeSocket } from './testing/fake-socket.js';
import { FakeTranscoder, assign, chunk, flush, segment, until } from './testing/runner-fixture.js';
import { tabIdentity, type TabIdentity } from './worker-id.js';

let session: Session;
let identity: Promise<TabIdentity>;
let logs: string[];
let transcoders: FakeTranscoder[];
const last = () => FakeSocket.all.at(-1)!;
const tc = () => transcoders.at(-1)!;
const sentOf = (s: FakeSocket, type: string) => s.sent.filter((m) => m.type === type);

const ISSUED = { workerId: 'wIssuedByServer01', credential: 'wIssuedByServer01.mac' };

/** Opens the newest socket and answers its hello as a coordinator would: the identity it presented, or a fresh one. */
function welcome(issue = ISSUED): FakeSocket {
  const s = last();
  s.open();
  const hello = s.sent[0]!;
  s.receive({
    type: 'welcome',
    id: `w${FakeSocket.all.length}`,
    replyTo: hello.id,
    protocol: PROTOCOL_VERSION,
    workerId: issue.workerId,
    credential: issue.credential,
    leaseTtlSeconds: 30,
    heartbeatIntervalSeconds: 10,
  });
  return s;
}

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  FakeSocket.all = [];
  transcoders = [];
  logs = [];
  identity = tabIdentity({ storage: null, waitMs: 1 });
  session = new Session({
    wsUrl: 'ws://host.test/ws/v1',
    identity,
    threads: 1,
    createTranscoder: () => {
      const t = new FakeTranscoder();
      transcoders.push(t);
      return t;
    },
    createSocket: (url) => new FakeSocket(url),
    platform: { hardwareConcurrency: 4, userAgent: 'test-agent' },
    fetch: async (_url, init) => (init?.method === 'PUT' ? new Response(null) : new Response(chunk.slice())),
    log: (level, message) => logs.push(`${level}: ${message}`),
    onChange: () => undefined,
  });
  await session.start();
});
afterEach(async () => {
  vi.useRealTimers();
  (await identity).close();
});

describe('Session identity', () => {
  it('says its first hello without a credential, keeps what the welcome issued, and presents it on the next hello', async () => {
    const s1 = welcome();
    expect(s1.sent[0]).toMatchObject({ type: 'hello', protocol: PROTOCOL_VERSION });
    expect(s1.sent[0]).not.toHaveProperty('credential');
    expect((await identity).workerId()).toBe(ISSUED.workerId);
    s1.drop(1006);
    await vi.advanceTimersByTimeAsync(1000);
    last().open();
    expect(last().sent[0]).toMatchObject({ type: 'hello', credential: ISSUED.credential });
  });

  it('takes the fresh identity a coordinator issues when it did not accept the credential, and says so', async () => {
    welcome().drop(1006);
    await vi.advanceTimersByTimeAsync(1000);
    const fresh = { workerId: 'wFreshIdentity001', credential: 'wFreshIdentity001.mac' };
    welcome(fresh);
    expect((await identity).credential()).toBe(fresh.credential);
    expect(logs).toContain(`warn: the coordinator did not recognise this tab as ${ISSUED.workerId}; it is now ${fresh.workerId}`);
  });
});

describe('Session', () => {
  it('after a dropped connection keeps the task and says hello with resume; a revoke after the welcome stops it', async () => {
    const s1 = welcome();
    s1.receive(assign(1));
    await flush();
    s1.drop(1006);
    await vi.advanceTimersByTimeAsync(1000);
    last().open();
    // The tab presents the credential its welcome gave, never an id of its own choosing, and every lease it holds.
    expect(last().sent[0]).toMatchObject({
      type: 'hello',
      credential: ISSUED.credential,
      resume: [{ leaseId: 'lease-1', token: 'tok-1' }],
    });
    expect(last().sent[0]).not.toHaveProperty('workerId');
    // How many rungs of a chunk it takes at once is the transcoder's to say.
    expect(last().sent[0]).toMatchObject({ capabilities: { maxRungs: tc().maxRungs } });
    const s2 = welcome();
    expect(tc().calls[0]?.opts.signal?.aborted).toBe(false);
    s2.receive({ type: 'revoke', id: 'r', leaseId: 'lease-1', reason: 'expired while away' });
    await flush();
    expect(tc().calls[0]?.opts.signal?.aborted).toBe(true);
    expect(session.status().runner?.current).toBeNull();
    expect(sentOf(s2, 'fail')).toEqual([]);
  });

  it('pause finishes the task in hand (uploaded and reported), then closes (1000) and takes nothing until resume', async () => {
    const s = welcome();
    s.receive(assign(1));
    await flush();
    session.pause();
    expect(session.status().run).toBe('pausing');
    tc().finish(segment.slice());
    await until(() => sentOf(s, 'complete').length > 0, 'complete');
    // Not waiting for the verdict: the coordinator checks the segment without us, and would hand a
    // tab that waits the next chunk meanwhile (its segments being checked leave it free for work).
    expect(session.status()).toMatchObject({ run: 'paused', connection: 'stopped', runner: { done: 0, batches: 0 } });
    expect(s.closed).toEqual({ code: 1000, reason: 'paused' });
    s.receive(assign(2)); // a late assignment on the closed socket is not taken
    await flush();
    expect(tc().calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(1);
    session.resume();
    expect(FakeSocket.all).toHaveLength(2);
    welcome();
    expect(last().sent[0]).not.toHaveProperty('resume');
    expect(session.status()).toMatchObject({ run: 'running', connection: 'connected' });
  });

  it('quit() abandons the task in hand without fail, closes (1000) and never reconnects', async () => {
    const s = welcome();
    s.receive(assign(1));
    await flush();
    session.quit('stopping now');
    await session.idle();
    expect(tc().calls[0]?.opts.signal?.aborted).toBe(true);
    expect(sentOf(s, 'fail')).toEqual([]);
    expect(s.closed).toEqual({ code: 1000, reason: 'stopping now' });
    session.resume();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(session.status()).toMatchObject({ run: 'paused', connection: 'stopped', runner: { batches: 0 } });
  });

  it('pauses while hidden when asked to, and showing the tab resumes it, but not a pause the user chose', () => {
    welcome();
    session.setHidden(true);
    expect(session.status().run).toBe('running'); // option off
    session.setPauseWhenHidden(true);
    expect(session.status()).toMatchObject({ run: 'paused', pausedBy: 'hidden', connection: 'stopped' });
    session.setHidden(false);
    expect(session.status()).toMatchObject({ run: 'running', pausedBy: null });
    session.pause();
    session.setHidden(true);
    session.setHidden(false);
    expect(session.status()).toMatchObject({ run: 'paused', pausedBy: 'user' });
  });

  it('a thread change while paused loads the new encoder, and resume connects once it is loaded', async () => {
    const s = welcome();
    session.pause();
    expect(s.closed?.code).toBe(1000);
    session.setThreads(2);
    expect(transcoders).toHaveLength(2);
    session.resume();
    await flush();
    expect(FakeSocket.all).toHaveLength(2);
    welcome();
    expect(session.status()).toMatchObject({ run: 'running', connection: 'connected', encoder: { state: 'loaded' } });
  });

  it('a thread change waits for the chunk in the encoder, not for its upload and verdict', async () => {
    const s = welcome();
    s.receive(assign(1));
    await flush();
    session.setThreads(2);
    expect(transcoders).toHaveLength(1);
    expect(session.status().pendingThreads).toBe(2);
    tc().finish(segment.slice());
    await until(() => sentOf(s, 'complete').length > 0, 'complete');
    // Encoded: the next chunk (which may come before this verdict) gets the new encoder.
    expect(transcoders).toHaveLength(2);
    expect(session.status().pendingThreads).toBeNull();
    expect(transcoders[0]!.calls).toHaveLength(1);
  });

  it('leave() (pagehide) sends no fail and does not reconnect', async () => {
    const s = welcome();
    s.receive(assign(1));
    await flush();
    session.leave();
    s.drop(1001);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(sentOf(s, 'fail')).toEqual([]);
    expect(FakeSocket.all).toHaveLength(1);
  });
});
