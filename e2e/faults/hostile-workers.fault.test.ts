/**
 * Strangers on the grid, against a real coordinator process on the real
 * PostgreSQL, with honest scripted workers (native ffmpeg, the tab's x264
 * recipe) doing the real work. MAX_ATTEMPTS is 2, so a job is as easy to kill
 * as it gets. After each attack the coordinator still serves, /healthz is 200,
 * and the job ends `done` with every output checked frame by frame:
 * - a WebSocket fuzz: random and mutated JSON, wrong types, messages before
 *   hello, replayed and out-of-order lease messages, oversized and invalid
 *   frames, from several connections, while a job runs;
 * - an identity hijack: the volunteer's id as /api/workers shows it, a forged
 *   credential, even its lease token, presented by a stranger;
 * - a quarantine dodge: a worker quarantined for failing comes back as a new
 *   identity from the same address;
 * - `fail` spam from a new identity per message, all from one address.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { frame, RawSocket } from '@tabgrid/coordinator/src/ws/testing/raw-socket.js';
import { PROTOCOL_VERSION, type RungLease } from '@tabgrid/shared';
import { ProtocolClient } from '../support/protocol-client.js';
import { ScenarioReport } from '../support/report.js';
import { FAULT_ENV, coordinatorOnFreshDatabase, faultClip, finishAndVerify, submit } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small deterministic PRNG (mulberry32), so a failing fuzz run can be replayed from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Malformed, mistyped and hostile variations of the tab's messages. */
function fuzzMessages(seed: number, count: number, lease: { leaseId: string; token: string }): string[] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const oddValues = [null, true, -1, 0, 1e308, Number.NaN, '', 'x'.repeat(3000), '\u0000\uffff', [], {}, [1, [2, [3]]], { $gt: '' }];
  const templates: Record<string, unknown>[] = [
    { type: 'hello', id: 'h', protocol: PROTOCOL_VERSION, capabilities: { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false } },
    { type: 'heartbeat', id: 'b', leases: [{ leaseId: lease.leaseId, token: lease.token }], progress: 0.5, stage: 'transcoding' },
    { type: 'complete', id: 'c', leaseId: lease.leaseId, token: lease.token, size: 1000, sha256: 'a'.repeat(64) },
    { type: 'fail', id: 'f', leaseId: lease.leaseId, token: lease.token, reason: 'fuzz' },
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const kind = rand();
    if (kind < 0.15) {
      // Bytes that are not JSON, or JSON that is not an object.
      out.push(
        pick([
          '{',
          '}',
          'null',
          '[]',
          '"hello"',
          '42',
          '{"type":',
          '\u2028',
          '{"type":"hello"}'.repeat(50),
          randomBytes(40).toString('latin1'),
        ]),
      );
      continue;
    }
    const msg: Record<string, unknown> = structuredClone(pick(templates));
    const keys = Object.keys(msg);
    const mutations = 1 + Math.floor(rand() * 3);
    for (let m = 0; m < mutations; m++) {
      const r = rand();
      const key = pick(keys);
      if (r < 0.3) msg[key] = pick(oddValues);
      else if (r < 0.45) delete msg[key];
      else if (r < 0.55) msg[`extra${m}`] = pick(oddValues);
      else if (r < 0.65) msg.type = pick(['hello', 'steal', 'welcome', 'assign', 'HEARTBEAT', '']);
      else if (r < 0.75) msg.leaseId = randomBytes(8).toString('hex');
      else if (r < 0.85) msg.token = pick([randomBytes(16).toString('hex'), lease.token]);
      else msg.credential = pick(['', 'x.y', randomBytes(40).toString('base64url'), 'w'.repeat(300)]);
    }
    const text = JSON.stringify(msg);
    // A prototype-pollution key can only be written by hand.
    out.push(rand() < 0.05 ? text.replace(/^\{/, '{"__proto__":{"polluted":true},') : text);
  }
  return out;
}

describe('hostile workers', () => {
  const fx = coordinatorOnFreshDatabase('hostile', { ...FAULT_ENV, MAX_ATTEMPTS: '2' });

  /** Every client a scenario opens, closed after it whatever happened (a silent leftover would hold tasks in the next one). */
  const clients: ProtocolClient[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const client = (address: string) => {
    const c = new ProtocolClient(fx.coordinator.url, { localAddress: address });
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    for (const stop of cleanups.splice(0)) await stop();
    for (const c of clients.splice(0)) {
      try {
        c.close();
      } catch {
        // never connected
      }
    }
  });

  async function healthy(): Promise<void> {
    expect(fx.coordinator.child.exitCode).toBeNull();
    expect((await fx.coordinator.api.health()).ok).toBe(true);
  }

  /** An honest worker from `address` that transcodes everything it is given until stopped. */
  async function honest(address: string) {
    const worker = client(address);
    await worker.connect();
    await worker.hello();
    let stop = false;
    const working = worker.work(() => stop);
    const stopIt = async () => {
      stop = true;
      await working.catch(() => undefined);
      worker.close();
    };
    cleanups.push(stopIt);
    return { worker, stop: stopIt };
  }

  it('a WebSocket fuzz while a job runs: no crash, error replies, and the job finishes frame-exact', async () => {
    const report = new ScenarioReport('WebSocket fuzz during a job');
    const { file, facts } = await faultClip(fx.dir);
    const id = await submit(fx.coordinator.api, file);
    // A lease to replay: a throwaway worker takes one task and drops it (it expires and goes to the honest worker).
    const taker = client('127.0.0.50');
    await taker.connect();
    await taker.hello();
    const taken = await taker.nextLease(() => true, 60_000);
    taker.close();

    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const messages = fuzzMessages(seed, 400, taken);
    let replies = 0;
    let closedByLimit = 0;
    // In batches of 25 per connection: the message budget (a burst of 60) closes a chattier socket.
    for (let i = 0; i < messages.length; i += 25) {
      const fuzzer = client('127.0.0.50');
      await fuzzer.connect();
      if (i % 50 === 0) await fuzzer.hello(); // half the batches are introduced, half are not
      for (const m of messages.slice(i, i + 25)) fuzzer.send(m);
      // Replayed and out-of-order lease messages: the old lease's complete and fail, a heartbeat for it.
      fuzzer.send({ type: 'complete', leaseId: taken.leaseId, token: taken.token, size: 10, sha256: 'b'.repeat(64) });
      fuzzer.send({ type: 'fail', leaseId: taken.leaseId, token: taken.token, reason: 'replayed' });
      await sleep(300);
      replies += fuzzer.received.filter((m) => m.type === 'error' || m.type === 'revoke' || m.type === 'result').length;
      if (fuzzer.closed?.code === 1008) closedByLimit++;
      fuzzer.close();
    }
    report.injected(
      `${messages.length} fuzzed messages (seed ${seed}) over ${messages.length / 25} connections, plus replays of an old lease`,
    );
    report.observed(`${replies} error/revoke/result replies; ${closedByLimit} connections closed for sending too much`);
    expect(replies).toBeGreaterThan(50);
    // Invalid frames, each on its own socket.
    for (const bytes of [
      frame(0x1, '', { declaredLength: 50_000_000 }),
      frame(0x1, Buffer.from([0xc3, 0x28])),
      frame(0x6, 'x'),
      frame(0x1, 'x', { rsv: 0x40 }),
    ]) {
      const raw = await RawSocket.open(fx.coordinator.port, { localAddress: '127.0.0.51' });
      raw.write(bytes);
      await raw.until(() => raw.closeCode !== undefined || raw.ended, 5000);
      expect([1002, 1007, 1009]).toContain(raw.closeCode);
      raw.destroy();
    }
    report.injected('oversized, invalid UTF-8, reserved-opcode and RSV frames');
    await healthy();
    report.verified('the coordinator process is alive and /healthz is 200');

    const good = await honest('127.0.0.2');
    await finishAndVerify({ api: fx.coordinator.api, id, source: facts, dir: fx.dir, dataDir: fx.coordinator.dataDir, report });
    await good.stop();
    report.print();
  });

  it('a stranger with the volunteer’s id, a forged credential or even its lease token touches neither its lease nor its session', async () => {
    const report = new ScenarioReport('identity hijack');
    const { file, facts } = await faultClip(fx.dir);
    const volunteer = client('127.0.0.3');
    await volunteer.connect();
    await volunteer.hello();
    const id = await submit(fx.coordinator.api, file);
    const lease: RungLease = await volunteer.nextLease(() => true, 60_000);

    // What anyone can read: the volunteer's id, and that it holds a task.
    const listed = (await fx.coordinator.api.workers()).workers.find((w) => w.id === volunteer.workerId);
    expect(listed?.current).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(volunteer.credential!.split('.')[1]!);
    const mac = volunteer.credential!.split('.')[1]!;
    const forgeries = [
      volunteer.workerId,
      `${volunteer.workerId}.${randomBytes(32).toString('base64url').slice(0, 43)}`,
      // One character changed (the last one of a 32-byte MAC is one of 4, so pick one that differs).
      `${volunteer.workerId}.${mac.slice(0, 42)}${mac.endsWith('A') ? 'Q' : 'A'}`,
      `${volunteer.workerId}.${mac.slice(0, 42)}`,
    ];
    for (const credential of forgeries) {
      const stranger = client('127.0.0.4');
      stranger.credential = credential;
      await stranger.connect();
      const welcome = await stranger.hello({ leaseId: lease.leaseId, token: lease.token });
      expect(welcome.workerId).not.toBe(volunteer.workerId);
      expect((await stranger.next('revoke', (r) => r.leaseId === lease.leaseId, 5000)).reason).toMatch(/new identity/);
      stranger.send({ type: 'fail', leaseId: lease.leaseId, token: lease.token, reason: 'hijacked' });
      await stranger.next('revoke', (r) => r.leaseId === lease.leaseId, 5000);
      stranger.close();
    }
    report.injected(
      '3 hellos as the volunteer (its listed id, a forged MAC, a truncated MAC), each with its lease token, then fail with it',
    );
    // The volunteer still holds its lease and its session.
    volunteer.send({ type: 'heartbeat', leases: [{ leaseId: lease.leaseId, token: lease.token }], progress: 0.4, stage: 'transcoding' });
    await sleep(300);
    expect(volunteer.received.filter((m) => m.type === 'revoke')).toEqual([]);
    const task = (await fx.coordinator.api.getTasks(id)).find((t) => t.chunk === lease.chunk && t.rendition === lease.params.rendition)!;
    expect({ state: task.state, worker: task.worker, attempts: task.attempts }).toEqual({
      state: 'leased',
      worker: volunteer.workerId,
      attempts: 1,
    });
    const me = (await fx.coordinator.api.workers()).workers.find((w) => w.id === volunteer.workerId);
    expect(me).toMatchObject({ connected: true, connectedAt: listed!.connectedAt });
    report.verified('the volunteer’s lease, heartbeats and session untouched');

    const seg = await volunteer.transcode(lease);
    await volunteer.upload(lease, seg);
    expect((await volunteer.complete(lease, seg)).accepted).toBe(true);
    let stop = false;
    const working = volunteer.work(() => stop);
    cleanups.push(async () => {
      stop = true;
      await working.catch(() => undefined);
    });
    const job = await finishAndVerify({ api: fx.coordinator.api, id, source: facts, dir: fx.dir, dataDir: fx.coordinator.dataDir, report });
    stop = true;
    await working;
    volunteer.close();
    const tasks = await fx.coordinator.api.getTasks(job.id);
    const mine = tasks.find((t) => t.chunk === lease.chunk && t.rendition === lease.params.rendition)!;
    expect(mine.history.map((h) => [h.worker, h.outcome])).toEqual([[volunteer.workerId, 'done']]);
    // The strangers, new identities, were offered other tasks and left them: released, nobody blamed.
    const theirs = tasks.flatMap((t) => t.history).filter((h) => h.worker !== volunteer.workerId);
    expect(theirs.filter((h) => h.outcome !== 'disconnected')).toEqual([]);
    report.verified(
      `the volunteer's task has one attempt, its own, done; ${theirs.length} other tasks were offered to the strangers and released`,
    );
    await healthy();
    report.print();
  });

  it('a quarantined worker coming back as a new identity from its address gets nothing; the job finishes elsewhere', async () => {
    const report = new ScenarioReport('quarantine dodge');
    const { file, facts } = await faultClip(fx.dir);
    const bad = client('127.0.0.5');
    await bad.connect();
    await bad.hello();
    const id = await submit(fx.coordinator.api, file);
    for (let i = 0; i < 3; i++) {
      const a = await bad.nextLease(() => true, 60_000);
      bad.send({ type: 'fail', leaseId: a.leaseId, token: a.token, reason: `refusing task ${i + 1}` });
    }
    await expect
      .poll(async () => (await fx.coordinator.api.workers()).workers.find((w) => w.id === bad.workerId)?.quarantinedUntil ?? null)
      .not.toBeNull();
    report.injected('a worker failed 3 tasks in a row and is quarantined');
    bad.close();
    const dodger = client('127.0.0.5');
    await dodger.connect();
    const welcome = await dodger.hello();
    expect(welcome.workerId).not.toBe(bad.workerId);
    await sleep(3000); // tasks are queued and claimable meanwhile (their backoff is 2 s)
    expect(dodger.received.filter((m) => m.type === 'assign')).toEqual([]);
    report.verified('it came back as a new identity from the same address: welcomed, given nothing for 3 s');

    const good = await honest('127.0.0.6');
    await finishAndVerify({ api: fx.coordinator.api, id, source: facts, dir: fx.dir, dataDir: fx.coordinator.dataDir, report });
    await good.stop();
    expect(dodger.received.filter((m) => m.type === 'assign')).toEqual([]);
    dodger.close();
    report.verified('the dodger never got a task; the job finished with the honest worker');
    report.print();
  });

  it('fail spam from a new identity per message, from one address, cannot kill a job (MAX_ATTEMPTS=2)', async () => {
    const report = new ScenarioReport('fail spam from rotating identities');
    const { file, facts } = await faultClip(fx.dir);
    const id = await submit(fx.coordinator.api, file);
    let spammed = 0;
    let stopSpam = false;
    const identities = new Set<string>();
    const spam = (async () => {
      while (!stopSpam && spammed < 12) {
        const s = client('127.0.0.7');
        await s.connect().catch(() => undefined);
        const welcome = await s.hello().catch(() => undefined);
        const a = welcome && (await s.nextLease(() => true, 3000).catch(() => undefined));
        if (a) {
          s.send({ type: 'fail', leaseId: a.leaseId, token: a.token, reason: `spam ${spammed}` });
          identities.add(s.workerId);
          spammed++;
          await sleep(100);
        }
        s.close();
      }
    })();
    cleanups.push(async () => {
      stopSpam = true;
      await spam;
    });
    // The spammer gets a head start on the whole queue before an honest worker joins.
    await expect.poll(() => spammed, { timeout: 60_000 }).toBeGreaterThanOrEqual(4);
    const good = await honest('127.0.0.8');
    const job = await finishAndVerify({ api: fx.coordinator.api, id, source: facts, dir: fx.dir, dataDir: fx.coordinator.dataDir, report });
    stopSpam = true;
    await spam;
    await good.stop();
    report.injected(`${spammed} fails from ${identities.size} identities at one address`);
    expect(spammed).toBeGreaterThanOrEqual(4);
    expect(identities.size).toBe(spammed);
    const tasks = await fx.coordinator.api.getTasks(job.id);
    const failedBySpam = tasks.flatMap((t) => t.history).filter((h) => h.outcome === 'failed' && identities.has(h.worker ?? ''));
    expect(failedBySpam.length).toBe(spammed);
    report.observed(`${failedBySpam.length} failed attempts by the spammer across ${tasks.length} tasks; no task died`);
    await healthy();
    report.print();
  });
});
