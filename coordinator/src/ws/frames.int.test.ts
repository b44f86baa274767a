/**
 * Hostile frames against a real coordinator: each one, sent raw over TCP,
 * used to make the `ws` server emit 'error' on a socket with no listener,
 * and the process exited (an oversized length, invalid UTF-8, a reserved
 * opcode: all three reproduced on the coordinator as it was). Now the
 * offending socket is closed with the code RFC 6455 names, and the
 * coordinator goes on: /healthz answers and a new tab is welcomed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { health, startTestCoordinator, type TestCoordinator } from './testing/coordinator-fixture.js';
import { frame, RawSocket } from './testing/raw-socket.js';
import { TabClient } from './testing/tab-client.js';

let c: TestCoordinator;
/** In its own process the coordinator would exit on any of these; here they are recorded and fail the test. */
const uncaught: unknown[] = [];
const record = (err: unknown) => uncaught.push(err);
beforeAll(async () => {
  process.on('uncaughtException', record);
  c = await startTestCoordinator();
});
afterAll(async () => {
  process.off('uncaughtException', record);
  await c?.close();
});
afterEach(() => {
  expect(
    uncaught.map((e) => String(e)),
    'uncaught exceptions (the coordinator process would have exited)',
  ).toEqual([]);
});

/** After every attack: the process still serves HTTP and welcomes a new tab. */
async function stillServing(): Promise<void> {
  expect((await health(c.url)).status).toBe(200);
  const tab = await new TabClient(c.port).connect();
  const welcome = await tab.hello();
  expect(welcome.workerId).toMatch(/^w[\w-]{16}$/);
  tab.close();
}

const utf8Invalid = Buffer.from([0x7b, 0xff, 0xfe, 0xfd, 0x7d]);
const attacks: { name: string; bytes: () => Buffer[]; code: number }[] = [
  { name: 'a text frame declaring 10 MB (over maxPayload)', bytes: () => [frame(0x1, '', { declaredLength: 10_000_000 })], code: 1009 },
  { name: 'a frame declaring 2^53 bytes', bytes: () => [frame(0x2, '', { declaredLength: 2 ** 53 })], code: 1009 },
  { name: 'a text message one byte over the 16 KiB limit', bytes: () => [frame(0x1, 'x'.repeat(16 * 1024 + 1))], code: 1009 },
  { name: 'invalid UTF-8 in a text frame', bytes: () => [frame(0x1, utf8Invalid)], code: 1007 },
  ...[0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf].map((op) => ({
    name: `reserved opcode 0x${op.toString(16)}`,
    bytes: () => [frame(op, 'x')],
    code: 1002,
  })),
  ...[0x40, 0x20, 0x10].map((rsv) => ({ name: `RSV bit 0x${rsv.toString(16)}`, bytes: () => [frame(0x1, '{}', { rsv })], code: 1002 })),
  { name: 'an unmasked client frame', bytes: () => [frame(0x1, '{}', { mask: false })], code: 1002 },
  { name: 'a continuation frame with no message started', bytes: () => [frame(0x0, 'x')], code: 1002 },
  { name: 'a ping of 126 bytes (control frames are at most 125)', bytes: () => [frame(0x9, 'x'.repeat(126))], code: 1002 },
  { name: 'a fragmented ping', bytes: () => [frame(0x9, 'x', { fin: false })], code: 1002 },
  {
    name: 'a message in 100 fragments (at most 64)',
    bytes: () => [frame(0x1, 'x', { fin: false }), ...Array.from({ length: 99 }, () => frame(0x0, 'x', { fin: false }))],
    code: 1008,
  },
  {
    name: 'a flood of 200 pings (they spend the message budget)',
    bytes: () => Array.from({ length: 200 }, () => frame(0x9, 'p')),
    code: 1008,
  },
  { name: 'a flood of 200 text messages', bytes: () => Array.from({ length: 200 }, () => frame(0x1, '{}')), code: 1008 },
];

describe('hostile WebSocket frames', () => {
  for (const attack of attacks) {
    it(`${attack.name}: closed with ${attack.code}, the coordinator keeps serving`, async () => {
      const raw = await RawSocket.open(c.port);
      expect(raw.accepted).toBe(true);
      for (const b of attack.bytes()) raw.write(b);
      await raw.until(() => raw.closeCode !== undefined || raw.ended, 5000);
      expect(raw.closeCode).toBe(attack.code);
      raw.destroy();
      await stillServing();
    });
  }

  it('a message exactly at the limit is read and answered (not valid JSON: an error reply, the socket kept)', async () => {
    const raw = await RawSocket.open(c.port);
    raw.write(frame(0x1, 'x'.repeat(16 * 1024)));
    await raw.until(() => raw.texts().length > 0, 5000);
    expect(JSON.parse(raw.texts()[0]!)).toMatchObject({ type: 'error', code: 'invalid_message' });
    expect(raw.closeCode).toBeUndefined();
    raw.destroy();
  });

  it('a binary message gets an error reply and the socket is kept', async () => {
    const tab = await new TabClient(c.port).connect();
    tab.socket.send(Buffer.from([1, 2, 3]));
    expect(await tab.next('error')).toMatchObject({ code: 'invalid_message', message: expect.stringMatching(/binary/) });
    await tab.hello();
    tab.close();
  });

  it('malformed handshakes and other paths are refused without an upgrade', async () => {
    const wrongPath = await RawSocket.open(c.port, { path: '/ws/v9' });
    expect(wrongPath.statusLine).toMatch(/^HTTP\/1.1 404/);
    wrongPath.destroy();
    // DNS rebinding: a page served under another name that resolves here must not reach the socket.
    const rebound = await RawSocket.open(c.port, { host: `attacker.example:${c.port}` });
    expect(rebound.statusLine).toMatch(/^HTTP\/1.1 421/);
    rebound.destroy();
    const badVersion = await RawSocket.open(c.port, { headers: { 'Sec-WebSocket-Version': '99' } });
    expect(badVersion.statusLine).toMatch(/^HTTP\/1.1 400/);
    badVersion.destroy();
    await stillServing();
  });

  it('a client that resets mid-handshake or mid-frame leaves nothing behind', async () => {
    for (let i = 0; i < 5; i++) {
      const raw = await RawSocket.open(c.port);
      raw.write(frame(0x1, 'x'.repeat(1000)).subarray(0, 500));
      raw.destroy();
    }
    await stillServing();
  });
});
