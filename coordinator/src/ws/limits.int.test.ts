/**
 * Limits per address and per connection, against a real coordinator: a
 * flood from one address is refused while another address still gets in;
 * silent sockets are closed; chatty sockets are closed with 1008; hello work
 * waiting beyond its bound is told to come back (1013). Loopback offers a
 * whole /8 of source addresses (127.0.0.x), so "another address" is real.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../db/client.js';
import { health, startTestCoordinator, type TestCoordinator } from './testing/coordinator-fixture.js';
import { RawSocket } from './testing/raw-socket.js';
import { TabClient } from './testing/tab-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const refused = (p: Promise<unknown>) =>
  p.then(
    () => 'admitted',
    (err: Error) => err.message,
  );

describe('limits per address and per connection', () => {
  let c: TestCoordinator;
  beforeAll(async () => {
    c = await startTestCoordinator({
      WS_MAX_CONNECTIONS_PER_ADDRESS: '3',
      WS_CONNECTIONS_PER_MINUTE: '60',
      WS_HELLO_TIMEOUT_SECONDS: '1',
      WS_MESSAGES_PER_SECOND: '2',
      WS_MESSAGE_BURST: '10',
      WS_HELLO_CONCURRENCY: '1',
      WS_MAX_PENDING_HELLOS: '2',
    });
  });
  afterAll(async () => {
    await c?.close();
  });

  it('refuses a 4th socket from one address (429) while another address still gets in; a closed socket frees its slot', async () => {
    const from2 = await Promise.all([1, 2, 3].map(() => new TabClient(c.port, { localAddress: '127.0.0.2' }).connect()));
    expect(await refused(new TabClient(c.port, { localAddress: '127.0.0.2' }).connect())).toMatch(/429/);
    const other = await new TabClient(c.port, { localAddress: '127.0.0.3' }).connect();
    expect((await other.hello()).workerId).toBeTruthy();
    from2[0]!.close();
    await sleep(1100); // and one token back in the address's bucket (60 per minute)
    const again = await new TabClient(c.port, { localAddress: '127.0.0.2' }).connect();
    await again.hello();
    for (const t of [...from2, other, again]) t.close();
  });

  it('refuses an address that connects too often, even with nothing open, until its bucket refills', async () => {
    for (let i = 0; i < 3; i++) (await new TabClient(c.port, { localAddress: '127.0.0.4' }).connect()).close();
    await sleep(50);
    const raw = await RawSocket.open(c.port, { localAddress: '127.0.0.4' });
    expect(raw.statusLine).toMatch(/^HTTP\/1.1 429/);
    raw.destroy();
    await sleep(1100);
    (await new TabClient(c.port, { localAddress: '127.0.0.4' }).connect()).close();
  });

  it('closes a socket that says no hello within the deadline (1008)', async () => {
    const silent = await new TabClient(c.port, { localAddress: '127.0.0.5' }).connect();
    const t0 = Date.now();
    expect(await silent.waitClosed(5000)).toEqual({ code: 1008, reason: 'no hello within 1 s' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    // Garbage is not a hello either.
    const garbage = await new TabClient(c.port, { localAddress: '127.0.0.5' }).connect();
    garbage.send('{"type":"heartbeat"}');
    expect((await garbage.waitClosed(5000)).code).toBe(1008);
  });

  it('closes a socket that sends faster than its bucket (1008), and keeps one that sends at an honest rate', async () => {
    const honest = await new TabClient(c.port, { localAddress: '127.0.0.6' }).connect();
    await honest.hello();
    const chatty = await new TabClient(c.port, { localAddress: '127.0.0.6' }).connect();
    await chatty.hello();
    for (let i = 0; i < 30; i++)
      chatty.send({ type: 'heartbeat', leases: [{ leaseId: 'l', token: 't' }], progress: 0.5, stage: 'transcoding' });
    expect(await chatty.waitClosed(5000)).toEqual({ code: 1008, reason: 'too many messages' });
    for (let i = 0; i < 14; i++) {
      honest.send({ type: 'heartbeat', leases: [{ leaseId: 'l', token: 't' }], progress: 0.5, stage: 'transcoding' });
      await sleep(400); // 2.5 per second against a refill of 2: the burst of 10 absorbs the difference
    }
    expect(honest.closed).toBeUndefined();
    honest.close();
  });

  it('a second hello on one connection is refused; the first identity stands', async () => {
    const tab = await new TabClient(c.port, { localAddress: '127.0.0.7' }).connect();
    const first = await tab.hello();
    const id = tab.sayHello({ credential: null });
    expect(await tab.next('error', (e) => e.replyTo === id)).toMatchObject({
      code: 'invalid_message',
      message: expect.stringMatching(/already/),
    });
    expect(tab.received.filter((m) => m.type === 'welcome')).toEqual([]);
    expect(tab.workerId).toBe(first.workerId);
    tab.close();
  });

  it('hellos beyond the bounded queue are told to come back later (1013); the rest are welcomed and /healthz answers', async () => {
    // 20 addresses × 2 sockets; one hello at a time, two waiting.
    const tabs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => new TabClient(c.port, { localAddress: `127.0.1.${Math.floor(i / 2) + 1}` }).connect()),
    );
    for (const t of tabs) t.sayHello();
    const outcomes = await Promise.all(
      tabs.map((t) =>
        Promise.race([
          t.next('welcome', () => true, 15_000).then(() => 'welcomed'),
          t.waitClosed(15_000).then((cl) => `closed ${cl.code}`),
        ]),
      ),
    );
    expect([...new Set(outcomes)].sort()).toEqual(['closed 1013', 'welcomed']);
    expect((await health(c.url)).status).toBe(200);
    for (const t of tabs) t.close();
  });
});

describe('TRUST_PROXY', () => {
  let c: TestCoordinator;
  beforeAll(async () => {
    c = await startTestCoordinator({ TRUST_PROXY: '1', WS_MAX_CONNECTIONS_PER_ADDRESS: '2' });
  });
  afterAll(async () => {
    await c?.close();
  });

  it('counts each client by the address our proxy appended, whatever the client wrote before it, and stores it', async () => {
    const via = (xff: string) => new TabClient(c.port, { headers: { 'X-Forwarded-For': xff } });
    const a1 = await via('198.51.100.1').connect();
    const a2 = await via('6.6.6.6, 198.51.100.1').connect(); // a forged left entry changes nothing
    expect(await refused(via('7.7.7.7, 198.51.100.1').connect())).toMatch(/429/);
    const b = await via('198.51.100.2').connect();
    const { workerId } = await b.hello();
    const [row] = await rows<{ address: string }>(c.database!.db, sql`SELECT address FROM workers WHERE id = ${workerId}`);
    expect(row?.address).toBe('198.51.100.2');
    for (const t of [a1, a2, b]) t.close();
  });
});

describe('without TRUST_PROXY', () => {
  let c: TestCoordinator;
  beforeAll(async () => {
    c = await startTestCoordinator({ WS_MAX_CONNECTIONS_PER_ADDRESS: '2' });
  });
  afterAll(async () => {
    await c?.close();
  });

  it('X-Forwarded-For is ignored: rotating it does not get a third socket in from one address', async () => {
    const via = (xff: string) => new TabClient(c.port, { localAddress: '127.0.0.8', headers: { 'X-Forwarded-For': xff } });
    const open = [await via('198.51.100.1').connect(), await via('198.51.100.2').connect()];
    expect(await refused(via('198.51.100.3').connect())).toMatch(/429/);
    const { workerId } = await open[0]!.hello();
    const [row] = await rows<{ address: string }>(c.database!.db, sql`SELECT address FROM workers WHERE id = ${workerId}`);
    expect(row?.address).toBe('127.0.0.8');
    for (const t of open) t.close();
  });
});
