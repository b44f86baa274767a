/**
 * Zombies and replays, with scripted workers over a real WebSocket against a
 * real coordinator on the real PostgreSQL:
 * - a worker that goes silent, has its lease reassigned, then uploads and
 *   completes anyway: refused, and its upload (its own attempt's key) never
 *   touches the accepted segment;
 * - a replay of an already accepted completion: refused, nothing changes;
 * - garbage and out-of-order messages: an error reply, never a crash.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { submitFile, waitForJob } from '../support/api.js';
import { makeClip, probe } from '../support/media.js';
import { ProtocolClient } from '../support/protocol-client.js';
import { ScenarioReport } from '../support/report.js';
import { expectedFinalKeys, storedKeys, withoutDeliverables } from '../support/stored-objects.js';
import { verifyOutputs } from '../support/verify-output.js';
import { coordinatorOnFreshDatabase } from './harness.js';

describe('zombie and replayed completions', () => {
  const fx = coordinatorOnFreshDatabase('zombie', { LEASE_TTL_SECONDS: '2', DISCONNECT_GRACE_SECONDS: '1', RENDITIONS: '360p' });

  it('refuses a zombie completion and a replay, keeps the accepted segment, and finishes frame-exact', async () => {
    const report = new ScenarioReport('zombie worker + replayed completion');
    const clip = path.join(fx.dir, 'clip.mp4');
    await makeClip(clip, { seconds: 8, width: 640, height: 360, fps: 30, audio: true, gop: 60 });
    const source = await probe(clip);

    const zombie = new ProtocolClient(fx.coordinator.url);
    await zombie.connect();
    // Garbage first: each gets an error reply and the connection stays usable.
    zombie.send('{not json');
    expect((await zombie.next('error')).code).toBe('invalid_message');
    zombie.send({ type: 'heartbeat', leases: [{ leaseId: 'x', token: 'y' }], progress: 0.5, stage: 'transcoding' });
    expect((await zombie.next('error')).code).toBe('not_introduced');
    zombie.send(JSON.stringify({ type: 'complete', id: 'bad1', leaseId: 'x', token: 'y', size: -5, sha256: 'nope' }));
    const invalid = await zombie.next('error');
    expect(invalid).toMatchObject({ code: 'invalid_message', replyTo: 'bad1' });
    report.injected('garbage, un-introduced and malformed messages → error replies, connection kept');
    await zombie.hello();

    const { id } = await submitFile(fx.coordinator.api, clip); // the client accepts only the API's 201
    const zAssign = await zombie.nextLease(() => true, 60_000);
    report.injected(`zombie took chunk ${zAssign.chunk} (attempt ${zAssign.attempt}) and went silent`);

    // No heartbeat: after the 2 s TTL the lease expires and the task is queued again,
    // first in line (oldest job, lowest chunk), so the good worker gets exactly it.
    await expect
      .poll(
        async () =>
          (await fx.coordinator.api.getTasks(id)).find((t) => t.chunk === zAssign.chunk && t.rendition === zAssign.params.rendition)?.state,
        { timeout: 20_000 },
      )
      .toBe('queued');
    // Another volunteer, at another address: the silent zombie may have been offered its task again
    // and quarantined for letting it expire three times, and quarantine follows the address.
    const good = new ProtocolClient(fx.coordinator.url, { localAddress: '127.0.0.2' });
    await good.connect();
    await good.hello();
    const gAssign = await good.nextLease((a) => a.leaseId === zAssign.leaseId, 30_000);
    // The expired lease was revoked, so the coordinator may have offered the task to the
    // (silent) zombie once more before the good worker got it.
    expect(gAssign.attempt).toBeGreaterThanOrEqual(2);
    expect(gAssign.token).not.toBe(zAssign.token);
    report.observed(`lease expired; chunk ${gAssign.chunk} reassigned to a good worker as attempt ${gAssign.attempt}`);

    // The zombie wakes up while the good worker holds the lease: its work is refused.
    const zSeg = await zombie.transcode(zAssign);
    expect(await zombie.upload(zAssign, zSeg)).toBe(200); // its own attempt's key: harmless
    zombie.send({ type: 'heartbeat', leases: [{ leaseId: zAssign.leaseId, token: zAssign.token }], progress: 1, stage: 'uploading' });
    expect((await zombie.next('revoke', (r) => r.leaseId === zAssign.leaseId)).reason).toMatch(/lease/);
    const zResult = await zombie.complete(zAssign, zSeg);
    expect(zResult.accepted).toBe(false);
    report.injected('zombie heartbeat + completion after reassignment → revoke, refused');

    const gSeg = await good.transcode(gAssign);
    await good.upload(gAssign, gSeg);
    expect((await good.complete(gAssign, gSeg)).accepted).toBe(true);
    const before = (await fx.coordinator.api.getTasks(id)).find((t) => t.chunk === gAssign.chunk)!;
    expect(before.state).toBe('done');

    // Replays of the accepted completion change nothing: from the zombie it is refused; from the
    // good worker (whose answer might have been lost) it is acknowledged again, idempotently.
    expect((await zombie.complete(gAssign, zSeg)).accepted).toBe(false);
    expect((await good.complete(gAssign, gSeg)).accepted).toBe(true);
    const after = (await fx.coordinator.api.getTasks(id)).find((t) => t.chunk === gAssign.chunk)!;
    expect(after).toEqual(before);
    report.injected('replayed the accepted completion (zombie: refused; its own worker: acknowledged again), task unchanged');
    expect(before.history.map((h) => h.outcome)).toEqual([...Array(gAssign.attempt - 1).fill('expired'), 'done']);
    expect(before.history.slice(0, -1).every((h) => h.worker === zombie.workerId)).toBe(true);

    // The good worker finishes the rest.
    let finished = false;
    const working = good.work(() => finished);
    const job = await waitForJob(fx.coordinator.api, id, { timeoutMs: 120_000 });
    finished = true;
    await working;
    report.observed(`${job.state} with ${job.progress.done}/${job.progress.total} tasks`);
    await verifyOutputs(job, {
      baseUrl: fx.coordinator.url,
      source,
      expected: [{ rendition: '360p', width: 640, height: 360 }],
      dir: fx.dir,
    });
    report.verified('360p: h264 640x360, frame count, duration, audio, clean decode');
    zombie.close();
    good.close();

    // No orphans: once cleanup has run only the source, manifest and output remain
    // (the zombie's upload to its own attempt's key included).
    await expect
      .poll(async () => withoutDeliverables(await storedKeys(fx.coordinator.dataDir), id), { timeout: 15_000 })
      .toEqual(expectedFinalKeys(id, 'mp4', ['360p']));
    report.verified('no orphan objects: source, manifest and output only');
    report.print();
  });
});
