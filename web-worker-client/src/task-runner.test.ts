import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { completeRetryDelay, sha256Hex } from './task-runner.js';
import { TaskFailure } from './transfer.js';
import { TranscodeError } from './transcoder/types.js';
import {
  SHA_ABC,
  assign,
  chunk,
  fetches,
  flush,
  ofType,
  params,
  runToComplete,
  runner,
  segment,
  setConnected,
  setResponses,
  setup,
  transcoder,
  until,
} from './testing/runner-fixture.js';

beforeEach(setup);
afterEach(() => {
  vi.useRealTimers();
});

describe('TaskRunner', () => {
  it('downloads, transcodes, uploads as video/mp4 and completes with size and sha256', async () => {
    runner.handleAssign(assign());
    await flush();
    expect(fetches[0]).toMatchObject({ url: 'https://storage.test/chunk-1.mkv', method: 'GET' });
    expect(transcoder.calls[0]?.input).toEqual(chunk);
    expect(transcoder.calls[0]?.params).toEqual(params);
    expect(runner.status().current).toMatchObject({ leaseId: 'lease-1', stage: 'transcoding', jobId: 'job-0123456789', rendition: '480p' });
    transcoder.finish(segment.slice());
    await runner.idle();
    expect(fetches[1]).toMatchObject({
      url: 'https://storage.test/seg-1.mp4?sig=x',
      method: 'PUT',
      contentType: 'video/mp4',
      body: segment,
    });
    const [complete] = ofType('complete');
    expect(complete).toMatchObject({ leaseId: 'lease-1', token: 'tok-1', size: 3, sha256: SHA_ABC });
    expect(complete?.encodeMs).toBeGreaterThanOrEqual(0);
    expect(ofType('fail')).toEqual([]);
    expect(runner.status().current).toMatchObject({ leaseId: 'lease-1', stage: 'checking', progress: 1 });
    runner.handleResult({ type: 'result', id: 'r1', replyTo: complete!.id, leaseId: 'lease-1', accepted: true });
    expect(runner.status()).toMatchObject({ current: null, done: 1, failures: 0 });
  });

  it('computes sha256 as lowercase hex', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe(SHA_ABC);
  });

  it('heartbeats from the moment of assignment, every interval, with stage, progress and frames, until complete', async () => {
    runner.handleAssign(assign());
    expect(ofType('heartbeat')).toEqual([
      expect.objectContaining({ leases: [{ leaseId: 'lease-1', token: 'tok-1' }], stage: 'downloading', progress: 0 }),
    ]);
    await flush();
    await vi.advanceTimersByTimeAsync(5000);
    // Half done after 5 s: 5 s still to go, far more than the lead, so no asking for the next chunk yet.
    transcoder.calls[0]?.opts.onProgress?.({ frames: 60, ratio: 0.5 });
    await vi.advanceTimersByTimeAsync(5000);
    expect(ofType('heartbeat').at(-1)).toMatchObject({ stage: 'transcoding', frames: 60, progress: 0.5 });
    expect(
      ofType('heartbeat').every((h) => h.ready === undefined),
      'not ready for more while encoding',
    ).toBe(true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(ofType('heartbeat')).toHaveLength(4);
    transcoder.finish(segment.slice());
    await runner.idle();
    // Encoded: one more at once, saying the encoder is free; then none once the segment is reported.
    expect(ofType('heartbeat').at(-1)).toMatchObject({ stage: 'uploading', ready: true });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(ofType('heartbeat')).toHaveLength(5);
    const progress = ofType('heartbeat').map((h) => h.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('fails a second assignment with "busy" while the first is in the encoder, and keeps working on the first', async () => {
    runner.handleAssign(assign(1));
    await flush();
    runner.handleAssign(assign(2));
    expect(ofType('fail')).toEqual([expect.objectContaining({ leaseId: 'lease-2', token: 'tok-2', reason: 'busy' })]);
    transcoder.finish(segment.slice());
    await runner.idle();
    expect(ofType('complete')).toEqual([expect.objectContaining({ leaseId: 'lease-1' })]);
    expect(runner.status().failures).toBe(0);
  });

  it('on revoke of the current lease aborts the transcode and sends neither fail nor complete', async () => {
    runner.handleAssign(assign());
    await flush();
    runner.handleRevoke({ type: 'revoke', id: 'r1', leaseId: 'lease-1', reason: 'job canceled' });
    await runner.idle();
    expect(transcoder.calls[0]?.opts.signal?.aborted).toBe(true);
    expect(ofType('fail')).toEqual([]);
    expect(ofType('complete')).toEqual([]);
    expect(fetches.filter((f) => f.method === 'PUT')).toEqual([]);
    expect(runner.status()).toMatchObject({ current: null, failures: 0 });
  });

  it('ignores a revoke for another lease', async () => {
    runner.handleAssign(assign(1));
    await flush();
    runner.handleRevoke({ type: 'revoke', id: 'r1', leaseId: 'lease-9', reason: 'expired' });
    expect(transcoder.calls[0]?.opts.signal?.aborted).toBe(false);
  });

  it('stops without fail when the coordinator refuses a heartbeat with lease_lost', async () => {
    runner.handleAssign(assign());
    await flush();
    const hb = ofType('heartbeat')[0]!;
    runner.handleError({ type: 'error', id: 'e1', replyTo: hb.id, code: 'lease_lost', message: 'expired' });
    await runner.idle();
    expect(ofType('fail')).toEqual([]);
    expect(runner.status().current).toBeNull();
  });

  it.each([
    [
      'a refused download',
      { get: () => new Response('<Error><Code>AccessDenied</Code></Error>', { status: 403 }) },
      /^downloading: GET chunk: HTTP 403 <Error><Code>AccessDenied/,
    ],
    ['a short download', { get: () => new Response(chunk.slice(0, 5)) }, /^downloading: GET chunk: got 5 bytes, expected 8/],
    [
      'a refused upload',
      { put: () => new Response('SignatureDoesNotMatch', { status: 403 }) },
      /^uploading: PUT segment: HTTP 403 SignatureDoesNotMatch/,
    ],
  ])('sends fail with a clear reason on %s', async (_name, r, reason) => {
    setResponses(r);
    runner.handleAssign(assign());
    await flush();
    transcoder.finish(segment.slice());
    await runner.idle();
    const [fail] = ofType('fail');
    expect(fail?.reason).toMatch(reason);
    expect(fail).toMatchObject({ leaseId: 'lease-1', token: 'tok-1' });
    expect(ofType('complete')).toEqual([]);
    expect(runner.status()).toMatchObject({ current: null, failures: 1 });
  });

  it('sends fail with the transcoder error code', async () => {
    runner.handleAssign(assign());
    await flush();
    transcoder.fail(new TranscodeError('stalled', 'ffmpeg made no progress for 60 s'));
    await runner.idle();
    expect(ofType('fail')[0]?.reason).toBe('transcoding: stalled: ffmpeg made no progress for 60 s');
    expect(runner.status().lastError).toContain('stalled');
  });

  it('counts accepted results as done and rejected ones as failures, and ignores results it is not waiting on', async () => {
    for (const [n, accepted] of [
      [1, true],
      [2, false],
    ] as const) {
      runner.handleAssign(assign(n));
      await flush();
      transcoder.finish(segment.slice());
      await runner.idle();
      const complete = ofType('complete').at(-1)!;
      runner.handleResult({
        type: 'result',
        id: `x${n}`,
        replyTo: complete.id,
        leaseId: `lease-${n}`,
        accepted,
        ...(accepted ? {} : { reason: 'wrong frame count' }),
      });
    }
    runner.handleResult({ type: 'result', id: 'x3', replyTo: 'zz', leaseId: 'lease-1', accepted: true });
    expect(runner.status()).toMatchObject({ done: 1, failures: 1, lastError: 'segment rejected: wrong frame count', current: null });
  });
});

describe('TaskRunner when the coordinator or the network fails', () => {
  it('keeps working through a dropped connection and names its lease for the next hello', async () => {
    runner.handleAssign(assign());
    await flush();
    expect(runner.resumeLeases()).toEqual([{ leaseId: 'lease-1', token: 'tok-1' }]);
    setConnected(false);
    await vi.advanceTimersByTimeAsync(12_000); // heartbeats go nowhere meanwhile
    expect(transcoder.calls[0]?.opts.signal?.aborted).toBe(false);
    transcoder.finish(segment.slice());
    await runner.idle();
    expect(ofType('complete')).toEqual([]); // not connected: held, not lost
    expect(runner.resumeLeases()).toEqual([{ leaseId: 'lease-1', token: 'tok-1' }]); // still held while waiting for the verdict
    setConnected(true);
    runner.handleWelcome();
    const [complete] = ofType('complete');
    expect(complete).toMatchObject({ leaseId: 'lease-1', token: 'tok-1', size: 3, sha256: SHA_ABC });
    expect(ofType('fail')).toEqual([]);
    runner.handleResult({ type: 'result', id: 'r1', replyTo: complete!.id, leaseId: 'lease-1', accepted: true });
    expect(runner.resumeLeases()).toBeUndefined();
    expect(runner.status()).toMatchObject({ done: 1, failures: 0, current: null });
  });

  it('sends an unanswered complete again after a reconnect (the answer may have been lost)', async () => {
    const first = await runToComplete();
    runner.handleWelcome();
    const again = ofType('complete');
    expect(again).toHaveLength(2);
    expect(again[1]).toMatchObject({ leaseId: first.leaseId, token: first.token, size: first.size, sha256: first.sha256 });
    expect(again[1]!.id).not.toBe(first.id);
  });

  it.each([
    [
      'result retry: true',
      (replyTo: string) =>
        runner.handleResult({ type: 'result', id: 'x', replyTo, leaseId: 'lease-1', accepted: false, retry: true, reason: 'storage down' }),
    ],
    [
      'error unavailable',
      (replyTo: string) => runner.handleError({ type: 'error', id: 'x', replyTo, code: 'unavailable', message: 'database down' }),
    ],
  ])('on %s keeps lease and result and sends the same complete after 2 s, 4 s, …, while encoding the next chunk', async (_name, answer) => {
    const first = await runToComplete();
    const same = { leaseId: 'lease-1', token: 'tok-1', size: first.size, sha256: first.sha256, encodeMs: first.encodeMs };
    for (const wait of [2000, 4000, 8000]) {
      answer(ofType('complete').at(-1)!.id);
      expect(runner.status().current).toMatchObject({ leaseId: 'lease-1', stage: 'checking' });
      const before = ofType('complete').length;
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(ofType('complete')).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(ofType('complete')).toHaveLength(before + 1);
      expect(ofType('complete').at(-1)).toMatchObject(same);
    }
    // The encoder is free: the next chunk is taken while this verdict waits.
    runner.handleAssign(assign(2));
    await flush();
    expect(ofType('fail')).toEqual([]);
    expect(transcoder.calls).toHaveLength(2);
    expect(runner.status()).toMatchObject({ failures: 0, done: 0, batches: 2, current: { leaseId: 'lease-2', stage: 'transcoding' } });
    runner.handleResult({ type: 'result', id: 'ok', replyTo: ofType('complete').at(-1)!.id, leaseId: 'lease-1', accepted: true });
    expect(runner.status()).toMatchObject({ done: 1, failures: 0, batches: 1 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ofType('complete')).toHaveLength(4); // no timer left behind
  });

  it('caps the complete retry below the lease TTL, with jitter', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => completeRetryDelay(n, 10_000, () => 0))).toEqual([2000, 4000, 8000, 16_000, 20_000, 20_000]);
    expect(completeRetryDelay(0, 10_000, () => 1)).toBe(2500);
    expect(completeRetryDelay(9, 60_000, () => 1)).toBe(30_000);
  });

  it('stops waiting on a revoke while checking, and still counts a late acceptance', async () => {
    const complete = await runToComplete();
    runner.handleRevoke({ type: 'revoke', id: 'rv', leaseId: 'lease-1', reason: 'expired' });
    expect(runner.status()).toMatchObject({ current: null, failures: 0, done: 0 });
    runner.handleResult({ type: 'result', id: 'late', replyTo: complete.id, leaseId: 'lease-1', accepted: true });
    expect(runner.status().done).toBe(1);
  });

  it('an unavailable reply to a heartbeat changes nothing', async () => {
    runner.handleAssign(assign());
    await flush();
    runner.handleError({ type: 'error', id: 'e', replyTo: ofType('heartbeat')[0]!.id, code: 'unavailable', message: 'database down' });
    expect(transcoder.calls[0]?.opts.signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(ofType('heartbeat')).toHaveLength(2);
  });

  it('sends a fail again when the coordinator could not record it', async () => {
    setResponses({ get: () => new Response('denied', { status: 403 }) });
    runner.handleAssign(assign());
    await runner.idle();
    const [fail] = ofType('fail');
    runner.handleError({ type: 'error', id: 'e', replyTo: fail!.id, code: 'unavailable', message: 'database down' });
    await vi.advanceTimersByTimeAsync(2000);
    expect(ofType('fail')).toHaveLength(2);
    expect(ofType('fail')[1]).toMatchObject({ leaseId: 'lease-1', token: 'tok-1', reason: fail!.reason });
    expect(runner.status().failures).toBe(1);
  });

  it('retries a download that hits a restarting coordinator, and an upload answered 503', async () => {
    let gets = 0;
    let puts = 0;
    setResponses({
      get: () => {
        if (++gets === 1) throw new TypeError('Failed to fetch');
        return new Response(chunk.slice());
      },
      put: () => new Response(++puts === 1 ? 'Service Unavailable' : null, { status: puts === 1 ? 503 : 200 }),
    });
    runner.handleAssign(assign());
    await flush();
    expect(transcoder.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(transcoder.calls).toHaveLength(1);
    transcoder.finish(segment.slice());
    await until(() => puts === 1, 'the first PUT');
    await vi.advanceTimersByTimeAsync(1000);
    await runner.idle();
    expect([gets, puts]).toEqual([2, 2]);
    expect(ofType('complete')).toHaveLength(1);
    expect(ofType('fail')).toEqual([]);
  });

  it('gives up on a transfer after the retry schedule, with the count in the reason', async () => {
    setResponses({ get: () => new Response('bad gateway', { status: 502 }) });
    runner.handleAssign(assign());
    await vi.advanceTimersByTimeAsync(5000);
    await runner.idle();
    expect(ofType('fail')[0]?.reason).toBe('downloading: GET chunk: HTTP 502 bad gateway (after 3 tries)');
  });

  it('fails at once, without retrying, when the injected fetch refuses the URL (a TaskFailure)', async () => {
    setResponses({
      get: () => {
        throw new TaskFailure('refused to GET https://elsewhere.test/chunk.mkv: not the coordinator');
      },
    });
    runner.handleAssign(assign());
    await flush();
    await runner.idle();
    expect(fetches).toHaveLength(1);
    expect(ofType('fail')[0]?.reason).toBe('downloading: refused to GET https://elsewhere.test/chunk.mkv: not the coordinator');
  });

  it('abandon() drops every lease in hand without fail: the transcode is aborted, nothing is held for the next hello', async () => {
    runner.handleAssign(assign());
    await flush();
    runner.abandon('the worker is stopping');
    await runner.idle();
    expect(transcoder.calls[0]?.opts.signal?.aborted).toBe(true);
    expect(ofType('fail')).toEqual([]);
    expect(ofType('complete')).toEqual([]);
    expect(runner.resumeLeases()).toBeUndefined();
    expect(runner.busy).toBe(false);
  });

  it('is no longer working once its segments are reported; forgetVerdicts() stops waiting for them', async () => {
    runner.handleAssign(assign());
    await flush();
    expect(runner.working).toBe(true);
    transcoder.finish(segment.slice());
    await runner.idle();
    expect(ofType('complete')).toHaveLength(1);
    expect([runner.working, runner.busy]).toEqual([false, true]);
    runner.forgetVerdicts();
    expect(runner.busy).toBe(false);
    expect(runner.resumeLeases()).toBeUndefined();
  });
});
