/**
 * A worker that fails every task, a task that dies once failures from
 * MAX_ATTEMPTS addresses ended it, the failed job retried from what was
 * accepted; and a job canceled while a worker holds a lease. Scripted workers
 * over real WebSockets (one of them from 127.0.0.2), a real coordinator on
 * the real PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { refusal } from '../support/api.js';
import { ProtocolClient } from '../support/protocol-client.js';
import { ScenarioReport } from '../support/report.js';
import { storedKeys } from '../support/stored-objects.js';
import { FAULT_EXPECTED, coordinatorOnFreshDatabase, faultClip, finishAndVerify, submit, waitUntil } from './harness.js';

describe('dead tasks, quarantine, retry and cancel', () => {
  const fx = coordinatorOnFreshDatabase('retry', {
    LEASE_TTL_SECONDS: '4',
    DISCONNECT_GRACE_SECONDS: '1',
    MAX_ATTEMPTS: '2',
    RENDITIONS: '360p,240p',
  });

  it('fails the job naming the chunk and the reasons, quarantines the bad worker, and a retry finishes it', async () => {
    const report = new ScenarioReport('a worker that fails everything, then POST /retry');
    // 4 s at 2 s GOPs and one rung: a single task, so every failure lands on it.
    const { file, facts } = await faultClip(fx.dir, 4);
    const bad = new ProtocolClient(fx.coordinator.url);
    await bad.connect();
    await bad.hello();
    const id = await submit(fx.coordinator.api, file, ['360p']);
    const failOnce = async (worker: ProtocolClient) => {
      const assign = await worker.nextLease(() => true, 20_000);
      worker.send({ type: 'fail', leaseId: assign.leaseId, token: assign.token, reason: `encoder crashed on attempt ${assign.attempt}` });
      return assign;
    };
    await failOnce(bad);
    const second = await failOnce(bad); // after a 2 s backoff
    expect(second.attempt).toBe(2);
    // One address cannot kill a task, however often it fails it (leases/failure-budget.ts):
    // MAX_ATTEMPTS=2 failures must come from two addresses.
    await expect.poll(async () => (await fx.coordinator.api.getTasks(id))[0]?.state, { timeout: 5000 }).toBe('queued');
    expect((await fx.coordinator.api.getJob(id)).state).toBe('transcoding');
    report.injected('the only task failed twice by one worker: still queued, the job still transcoding');
    // The bad worker steps away (its credential kept); a second bad worker, from another address, fails it too.
    bad.close();
    const bad2 = new ProtocolClient(fx.coordinator.url, { localAddress: '127.0.0.2' });
    await bad2.connect();
    await bad2.hello();
    const third = await failOnce(bad2); // after a 4 s backoff
    expect(third.attempt).toBe(3);
    bad2.close();
    const failed = await waitUntil(fx.coordinator.api, id, (j) => j.state === 'failed', 20_000);
    report.injected('failed a third time by another worker from another address (MAX_ATTEMPTS=2 addresses)');
    expect(failed.error).toBe(
      'chunk 0 (360p) failed 3 times; last reasons, newest first: worker failed: encoder crashed on attempt 3 | worker failed: encoder crashed on attempt 2 | worker failed: encoder crashed on attempt 1',
    );
    report.observed(`failed: ${failed.error}`);

    // The client accepts only the route's 200 with a well-formed body.
    expect(await fx.coordinator.api.retryJob(id)).toMatchObject({ id });
    report.injected('POST /retry');
    await bad.reconnect(); // the same worker: it presents the credential its first welcome gave
    const welcomeBack = await bad.hello();
    expect(welcomeBack.workerId).toBe(bad.workerId);
    const fourth = await failOnce(bad);
    expect(fourth.attempt).toBe(4);
    report.injected('the first bad worker comes back and fails the retried task: its third failure in a row');

    // Quarantined now: the task goes to a good worker, never back to the bad one. The good one connects
    // from another address: a new identity from the bad one's address would wait out its quarantine.
    const good = new ProtocolClient(fx.coordinator.url, { localAddress: '127.0.0.3' });
    await good.connect();
    await good.hello();
    let stop = false;
    const working = good.work(() => stop);
    await finishAndVerify({
      api: fx.coordinator.api,
      id,
      source: facts,
      dir: fx.dir,
      dataDir: fx.coordinator.dataDir,
      report,
      timeoutMs: 90_000,
      expected: [FAULT_EXPECTED[0]!],
    });
    stop = true;
    await working;
    expect(bad.received.filter((m) => m.type === 'assign')).toEqual([]);
    const [task] = await fx.coordinator.api.getTasks(id);
    expect(task!.history.map((h) => h.outcome)).toEqual(['failed', 'failed', 'failed', 'failed', 'done']);
    report.observed(
      `the task's attempts: ${task!.history
        .map((h) => `${h.outcome} by ${h.worker === bad.workerId ? 'bad' : h.worker === bad2.workerId ? 'bad2' : 'good'}`)
        .join(' → ')}`,
    );
    bad.close();
    good.close();
    report.print();
  });

  it('cancel revokes the lease, cleans chunks and segments; delete removes the rest', async () => {
    const report = new ScenarioReport('cancel mid-transcode, then delete');
    const { file } = await faultClip(fx.dir, 8);
    // From its own address: the first scenario's bad worker may still be quarantined, and quarantine follows the address.
    const worker = new ProtocolClient(fx.coordinator.url, { localAddress: '127.0.0.4' });
    await worker.connect();
    await worker.hello();
    const id = await submit(fx.coordinator.api, file);
    const assign = await worker.nextLease(() => true, 30_000);
    worker.send({ type: 'heartbeat', leases: [{ leaseId: assign.leaseId, token: assign.token }], progress: 0.3, stage: 'transcoding' });
    const seg = await worker.transcode(assign); // downloaded and encoded before the cancel lands

    expect(await fx.coordinator.api.cancelJob(id)).toEqual({ id, state: 'canceled' });
    report.injected('POST /cancel while a worker held a lease');
    const revoke = await worker.next('revoke', (r) => r.leaseId === assign.leaseId, 5_000);
    expect(revoke.reason).toMatch(/canceled/);
    report.observed(`worker told to stop: "${revoke.reason}"`);
    expect((await fx.coordinator.api.getJob(id)).state).toBe('canceled');
    expect((await fx.coordinator.api.getTasks(id)).every((t) => t.state === 'canceled')).toBe(true);
    // A late upload and completion of the revoked lease: refused, and the upload swept.
    await worker.upload(assign, seg);
    expect((await worker.complete(assign, seg)).accepted).toBe(false);
    expect((await refusal(fx.coordinator.api.cancelJob(id))).status).toBe(409);

    await expect
      .poll(async () => (await storedKeys(fx.coordinator.dataDir)).filter((k) => k.includes(id)), { timeout: 15_000 })
      .toEqual([`videos/${id}/manifests/source.json`, `videos/${id}/source/source.mp4`]);
    report.verified('chunks and segments (the late upload included) removed; source and manifest kept for a retry');

    await fx.coordinator.api.deleteJob(id); // the client accepts only the route's 204
    expect((await refusal(fx.coordinator.api.getJob(id))).status).toBe(404);
    expect((await storedKeys(fx.coordinator.dataDir)).filter((k) => k.includes(id))).toEqual([]);
    report.verified('DELETE removed the job and every object it had');
    worker.close();
    report.print();
  });
});
