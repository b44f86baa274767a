/**
 * Worker identity is issued by the coordinator: against a real coordinator,
 * a stranger who knows a volunteer's id (`/api/workers` shows it), forges a
 * credential, brings one from another grid, or even holds the volunteer's
 * lease token, gets an identity of its own and never touches the
 * volunteer's lease or session. No API and no log line shows a credential.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RungLease, rungLeases } from '@tabgrid/shared';
import { rows } from '../db/client.js';
import { workerCredentials } from './credentials.js';
import { seedTranscodingJob, startTestCoordinator, type TestCoordinator } from './testing/coordinator-fixture.js';
import { TabClient } from './testing/tab-client.js';

let c: TestCoordinator;
const logLines: string[] = [];
let victim: TabClient;
let lease: RungLease;
let session: { connected_at: string; disconnected_at: string | null };

const db = () => c.database!.db;
const leaseRow = async () =>
  (
    await rows<{ state: string; lease_owner: string | null; lease_token: string | null }>(
      db(),
      sql`SELECT state, lease_owner, lease_token FROM tasks WHERE id = ${lease.leaseId}`,
    )
  )[0];
const sessionOf = async (workerId: string) =>
  (
    await rows<{ connected_at: string; disconnected_at: string | null }>(
      db(),
      sql`SELECT connected_at::text, disconnected_at::text FROM workers WHERE id = ${workerId}`,
    )
  )[0];

/** The victim still holds its lease, renews it, and its session is the one it opened. */
async function victimUntouched(): Promise<void> {
  expect(await leaseRow()).toEqual({ state: 'leased', lease_owner: victim.workerId, lease_token: lease.token });
  expect(await sessionOf(victim.workerId)).toEqual(session);
  const before = victim.received.length;
  victim.send({ type: 'heartbeat', leases: [{ leaseId: lease.leaseId, token: lease.token }], progress: 0.5, stage: 'transcoding' });
  await new Promise((r) => setTimeout(r, 200));
  expect(victim.received.slice(before), 'no revoke or error for the victim').toEqual([]);
  expect(victim.closed).toBeUndefined();
}

beforeAll(async () => {
  c = await startTestCoordinator({}, { logLines });
  await seedTranscodingJob(db(), 1);
  victim = await new TabClient(c.port, { localAddress: '127.0.0.2' }).connect();
  await victim.hello();
  [lease] = rungLeases(await victim.next('assign')) as [RungLease];
  session = (await sessionOf(victim.workerId))!;
});
afterAll(async () => {
  victim?.close();
  await c?.close();
});

describe('server-issued identity', () => {
  it('a first hello gets a fresh id and a credential; the same credential later is the same worker', async () => {
    const tab = await new TabClient(c.port).connect();
    const first = await tab.hello({ credential: null });
    expect(first.workerId).toMatch(/^w[\w-]{16}$/);
    expect(first.credential.startsWith(`${first.workerId}.`)).toBe(true);
    tab.close();
    const back = await new TabClient(c.port).connect();
    expect(await back.hello({ credential: first.credential })).toMatchObject({ workerId: first.workerId, credential: first.credential });
    back.close();
  });

  const forgeries: [string, () => string][] = [
    ['the victim’s id, as /api/workers shows it', () => victim.workerId],
    ['the victim’s id with a forged MAC', () => `${victim.workerId}.${randomBytes(32).toString('base64url').slice(0, 43)}`],
    [
      'the victim’s id with another worker’s MAC',
      () => `${victim.workerId}.${victim.credential!.split('.')[1]!.split('').reverse().join('')}`,
    ],
    ['a credential from another grid', () => workerCredentials(randomBytes(32)).issue().credential],
    ['garbage', () => '\u0000'.repeat(200)],
  ];
  for (const [what, forge] of forgeries) {
    it(`hello with ${what}: a fresh identity; the victim's lease and session are untouched`, async () => {
      const stranger = await new TabClient(c.port, { localAddress: '127.0.0.3' }).connect();
      const welcome = await stranger.hello({ credential: forge() });
      expect(welcome.workerId).not.toBe(victim.workerId);
      await victimUntouched();
      stranger.close();
      await new Promise((r) => setTimeout(r, 100)); // its close is processed: still nothing happens to the victim
      await victimUntouched();
    });
  }

  it('a forged credential with the victim’s real lease token (say it leaked) resumes nothing and releases nothing', async () => {
    const stranger = await new TabClient(c.port, { localAddress: '127.0.0.3' }).connect();
    await stranger.hello({ credential: victim.workerId, resume: [{ leaseId: lease.leaseId, token: lease.token }] });
    expect((await stranger.next('revoke')).leaseId).toBe(lease.leaseId);
    await victimUntouched();
    // Nor can it fail the lease from its own identity, token in hand.
    const failId = stranger.send({ type: 'fail', leaseId: lease.leaseId, token: lease.token, reason: 'sabotage' });
    expect(failId).toBeTruthy();
    expect((await stranger.next('revoke')).leaseId).toBe(lease.leaseId);
    await victimUntouched();
    stranger.close();
  });

  it('a worker with a valid identity of its own cannot resume the victim’s lease with its token', async () => {
    const other = await new TabClient(c.port, { localAddress: '127.0.0.4' }).connect();
    await other.hello({ credential: null });
    other.close();
    const again = await new TabClient(c.port, { localAddress: '127.0.0.4' }).connect();
    const welcome = await again.hello({ credential: other.credential!, resume: [{ leaseId: lease.leaseId, token: lease.token }] });
    expect(welcome.workerId).toBe(other.workerId);
    expect((await again.next('revoke')).leaseId).toBe(lease.leaseId);
    await victimUntouched();
    again.close();
  });

  it('the victim itself reconnects with its credential and resumes its lease', async () => {
    const again = await new TabClient(c.port, { localAddress: '127.0.0.2' }).connect();
    const welcome = await again.hello({ credential: victim.credential!, resume: [{ leaseId: lease.leaseId, token: lease.token }] });
    expect(welcome.workerId).toBe(victim.workerId);
    await new Promise((r) => setTimeout(r, 200));
    expect(again.received.filter((m) => m.type === 'revoke')).toEqual([]);
    expect(await leaseRow()).toMatchObject({ state: 'leased', lease_owner: victim.workerId });
    // The old socket is the tab's own past: close it, and keep the new one as the victim.
    victim.close();
    victim = again;
    session = (await sessionOf(victim.workerId))!;
  });

  it('no credential in /api/workers or in any log line', async () => {
    const res = await fetch(`${c.url}/api/workers`);
    const body = await res.text();
    expect(body).toContain(victim.workerId);
    const mac = victim.credential!.split('.')[1]!;
    expect(body).not.toContain(mac);
    expect(logLines.length).toBeGreaterThan(10);
    expect(logLines.filter((l) => l.includes(mac))).toEqual([]);
    expect(logLines.some((l) => l.includes('does not verify'))).toBe(true);
  });
});
