/**
 * A worker that fails every task, a task that dies after MAX_ATTEMPTS, the
 * failed job retried from what was accepted; and a job canceled while a
 * worker holds a lease. Scripted workers over real WebSockets, a real
 * coordinator on the real PostgreSQL.
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
    const failOnce = async () => {
      const assign = await bad.next('assign', () => true, 20_000);
      bad.send({ type: 'fail', leaseId: assign.leaseId, token: assign.token, reason: `encoder crashed on attempt ${assign.attempt}` });
      return assign;
    };
    await failOnce();
    const second = await failOnce(); // after a 2 s backoff
    expect(second.attempt).toBe(2);
    const failed = await waitUntil(fx.coordinator.api, id, (j) => j.state === 'failed', 20_000);
    report.injected('the only task failed twice by one worker (MAX_ATTEMPTS=2)');
    expect(failed.error).toBe(
      'chunk 0 (360p) failed 2 times; last reasons, newest first: worker failed: encoder crashed on attempt 2 | worker failed: encoder crashed on attempt 1',
    );
    report.observed(`failed: ${failed.error}`);

    // The client accepts only the route's 200 with a well-formed body.
    expect(await fx.coordinator.api.retryJob(id)).toMatchObject({ id });
    report.injected('POST /retry');
    const third = await failOnce();
    expect(third.attempt).toBe(3);
    report.injected('the same worker fails the retried task: its third failure in a row');

    // Quarantined now: the task goes to a good worker, never back to the bad one.
    const good = new ProtocolClient(fx.coordinator.url);
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
    expect(task!.history.map((h) => h.outcome)).toEqual(['failed', 'failed', 'failed', 'done']);
    report.observed(
      `the task's attempts: ${task!.history.map((h) => `${h.outcome} by ${h.worker === bad.workerId ? 'bad' : 'good'}`).join(' → ')}`,
    );
    bad.close();
    good.close();
    report.print();
  });

  it('cancel revokes the lease, cleans chunks and segments; delete removes the rest', async () => {
    const report = new ScenarioReport('cancel mid-transcode, then delete');
    const { file } = await faultClip(fx.dir, 8);
    const worker = new ProtocolClient(fx.coordinator.url);
    await worker.connect();
    await worker.hello();
    const id = await submit(fx.coordinator.api, file);
    const assign = await worker.next('assign', () => true, 30_000);
    worker.send({ type: 'heartbeat', leaseId: assign.leaseId, token: assign.token, progress: 0.3, stage: 'transcoding' });
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
