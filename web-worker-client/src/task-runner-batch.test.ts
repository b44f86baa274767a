/** The task runner with several rungs of one chunk per assignment (protocol 3): one download and decode, each rung its own lease. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256Hex } from './task-runner.js';
import { TranscodeError } from './transcoder/types.js';
import {
  RUNG_PARAMS,
  assign,
  batchAssign,
  fetches,
  flush,
  ofType,
  runner,
  setAccepting,
  setResponses,
  setup,
  transcoder,
} from './testing/runner-fixture.js';

beforeEach(setup);
afterEach(() => {
  vi.useRealTimers();
});

const seg = (text: string) => new TextEncoder().encode(text);
const puts = () => fetches.filter((f) => f.method === 'PUT');
const leases = ['720p', '480p', '360p'].map((r) => ({ leaseId: `lease-1-${r}`, token: `tok-1-${r}` }));

describe('TaskRunner, several rungs of one chunk', () => {
  it('downloads once, transcodes every rung in one call, uploads each to its own URL and completes each lease', async () => {
    runner.handleAssign(batchAssign(1));
    await flush();
    expect(fetches.filter((f) => f.method === 'GET')).toHaveLength(1);
    expect(transcoder.calls).toHaveLength(1);
    expect(transcoder.calls[0]!.rungs).toEqual([RUNG_PARAMS['720p'], RUNG_PARAMS['480p'], RUNG_PARAMS['360p']]);
    expect(runner.status().current).toMatchObject({ rendition: '720p+480p+360p', stage: 'transcoding', chunk: 1 });
    transcoder.finish([seg('a720'), seg('b480'), seg('c360')]);
    await runner.idle();
    expect(puts().map((p) => [p.url, new TextDecoder().decode(p.body)])).toEqual([
      ['https://storage.test/seg-1-720p.mp4?sig=x', 'a720'],
      ['https://storage.test/seg-1-480p.mp4?sig=x', 'b480'],
      ['https://storage.test/seg-1-360p.mp4?sig=x', 'c360'],
    ]);
    const completes = ofType('complete');
    expect(completes.map((c) => [c.leaseId, c.token, c.size])).toEqual(leases.map((l) => [l.leaseId, l.token, 4]));
    expect(completes.map((c) => c.sha256)).toEqual(await Promise.all(['a720', 'b480', 'c360'].map((t) => sha256Hex(seg(t)))));
    expect(new Set(completes.map((c) => c.encodeMs)).size, 'one encode, shared by its rungs').toBe(1);
    for (const [i, c] of completes.entries()) {
      runner.handleResult({ type: 'result', id: `r${i}`, replyTo: c.id, leaseId: c.leaseId, accepted: true });
    }
    expect(runner.status()).toMatchObject({ current: null, batches: 0, done: 3, failures: 0 });
  });

  it('one heartbeat renews the whole batch; reported rungs drop out of it', async () => {
    runner.handleAssign(batchAssign(1));
    await flush();
    await vi.advanceTimersByTimeAsync(5000);
    expect(ofType('heartbeat').map((h) => h.leases)).toEqual([leases, leases]);
    transcoder.finish(seg('x'));
    await runner.idle();
    // Every rung reported: nothing left for a heartbeat to renew (the coordinator holds them while it checks).
    const before = ofType('heartbeat').length;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(ofType('heartbeat')).toHaveLength(before);
    expect(runner.resumeLeases()).toEqual(leases);
  });

  it('a rung whose upload is refused fails alone; the others complete', async () => {
    let n = 0;
    setResponses({ put: () => (++n === 2 ? new Response('SignatureDoesNotMatch', { status: 403 }) : new Response(null, { status: 200 })) });
    runner.handleAssign(batchAssign(1));
    await flush();
    transcoder.finish(seg('x'));
    await runner.idle();
    expect(ofType('fail')).toEqual([expect.objectContaining({ leaseId: 'lease-1-480p', token: 'tok-1-480p' })]);
    expect(ofType('fail')[0]!.reason).toMatch(/^uploading: PUT segment: HTTP 403/);
    expect(ofType('complete').map((c) => c.leaseId)).toEqual(['lease-1-720p', 'lease-1-360p']);
    expect(runner.status()).toMatchObject({ failures: 1, batches: 1 });
  });

  it('a failed transcode fails every rung, each with the reason', async () => {
    runner.handleAssign(batchAssign(1));
    await flush();
    transcoder.fail(new TranscodeError('bad_output', 'segment has 119 frames, the chunk has 120'));
    await runner.idle();
    expect(ofType('fail').map((f) => [f.leaseId, f.reason])).toEqual(
      leases.map((l) => [l.leaseId, 'transcoding: bad_output: segment has 119 frames, the chunk has 120']),
    );
    expect(runner.status()).toMatchObject({ current: null, batches: 0, failures: 3 });
  });

  it('a rung taken back while encoding is not uploaded; the others go on; all taken back stops the transcode', async () => {
    runner.handleAssign(batchAssign(1));
    await flush();
    runner.handleRevoke({ type: 'revoke', id: 'r', leaseId: 'lease-1-480p', reason: 'expired' });
    expect(transcoder.calls[0]!.opts.signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(ofType('heartbeat').at(-1)!.leases).toEqual([leases[0], leases[2]]);
    transcoder.finish(seg('x'));
    await runner.idle();
    expect(puts().map((p) => p.url)).toEqual(['https://storage.test/seg-1-720p.mp4?sig=x', 'https://storage.test/seg-1-360p.mp4?sig=x']);
    expect(ofType('complete').map((c) => c.leaseId)).toEqual(['lease-1-720p', 'lease-1-360p']);
    expect(ofType('fail')).toEqual([]);

    runner.handleAssign(batchAssign(2, ['480p', '360p']));
    await flush();
    for (const r of ['480p', '360p']) runner.handleRevoke({ type: 'revoke', id: `r${r}`, leaseId: `lease-2-${r}`, reason: 'job canceled' });
    await runner.idle();
    expect(transcoder.calls[1]!.opts.signal?.aborted).toBe(true);
    expect(ofType('fail')).toEqual([]);
    expect(runner.status().failures).toBe(0);
  });

  it('a rung taken back before the chunk arrived is not encoded at all', async () => {
    runner.handleAssign(batchAssign(1));
    runner.handleRevoke({ type: 'revoke', id: 'r', leaseId: 'lease-1-720p', reason: 'job canceled' });
    await flush();
    expect(transcoder.calls[0]!.rungs).toEqual([RUNG_PARAMS['480p'], RUNG_PARAMS['360p']]);
    transcoder.finish([seg('b480'), seg('c360')]);
    await runner.idle();
    expect(puts().map((p) => [p.url, new TextDecoder().decode(p.body)])).toEqual([
      ['https://storage.test/seg-1-480p.mp4?sig=x', 'b480'],
      ['https://storage.test/seg-1-360p.mp4?sig=x', 'c360'],
    ]);
  });

  it('says it is ready for the next chunk once encoded, takes it while the uploads and verdicts wait, and not while pausing', async () => {
    runner.handleAssign(batchAssign(1));
    await flush();
    transcoder.finish(seg('x'));
    await runner.idle();
    expect(ofType('heartbeat').at(-1)).toMatchObject({ leases, stage: 'uploading', ready: true });
    runner.handleAssign(assign(2));
    await flush();
    expect(transcoder.calls).toHaveLength(2);
    expect(runner.status()).toMatchObject({ batches: 2, current: { leaseId: 'lease-2', stage: 'transcoding' } });
    expect(runner.resumeLeases()).toEqual([...leases, { leaseId: 'lease-2', token: 'tok-2' }]);
    // While chunk 2 encodes, nothing says ready.
    const during = ofType('heartbeat').length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(
      ofType('heartbeat')
        .slice(during)
        .every((h) => h.ready === undefined),
    ).toBe(true);
    setAccepting(false);
    transcoder.finish(seg('y'));
    await runner.idle();
    expect(ofType('heartbeat').at(-1)).toMatchObject({ leases: [{ leaseId: 'lease-2', token: 'tok-2' }], stage: 'uploading' });
    expect(ofType('heartbeat').at(-1)!.ready).toBeUndefined();
  });

  it('asks for the next chunk shortly before the encode ends, downloads it meanwhile and encodes it once the encoder is free', async () => {
    runner.handleAssign(batchAssign(1));
    await flush();
    await vi.advanceTimersByTimeAsync(4000);
    transcoder.calls[0]!.opts.onProgress?.({ frames: 60, ratio: 0.5 });
    expect(ofType('heartbeat').filter((h) => h.ready)).toEqual([]); // ~4 s to go
    await vi.advanceTimersByTimeAsync(3600);
    transcoder.calls[0]!.opts.onProgress?.({ frames: 114, ratio: 0.95 }); // ~0.4 s to go: within the lead
    expect(ofType('heartbeat').at(-1)).toMatchObject({ leases, stage: 'transcoding', ready: true });
    runner.handleAssign(assign(2));
    await flush();
    expect(fetches.filter((f) => f.method === 'GET').map((f) => f.url)).toEqual([
      'https://storage.test/chunk-1.mkv',
      'https://storage.test/chunk-2.mkv',
    ]);
    expect(transcoder.calls).toHaveLength(1); // chunk 2 waits for the encoder
    expect(ofType('fail')).toEqual([]);
    // A third chunk now would be one too many.
    runner.handleAssign(assign(3));
    expect(ofType('fail')).toEqual([expect.objectContaining({ leaseId: 'lease-3', reason: 'busy' })]);
    transcoder.finish(seg('x'));
    await flush();
    expect(transcoder.calls).toHaveLength(2);
    expect(runner.status()).toMatchObject({ batches: 2, current: { leaseId: 'lease-2', stage: 'transcoding' } });
    transcoder.finish(seg('y'));
    await runner.idle();
    expect(ofType('complete').map((c) => c.leaseId)).toEqual([...leases.map((l) => l.leaseId), 'lease-2']);
  });

  it('a prefetched chunk taken back while it waits for the encoder is dropped without a fail', async () => {
    runner.handleAssign(batchAssign(1));
    await flush();
    transcoder.calls[0]!.opts.onProgress?.({ frames: 110, ratio: 0.92 });
    runner.handleAssign(assign(2));
    await flush();
    runner.handleRevoke({ type: 'revoke', id: 'r', leaseId: 'lease-2', reason: 'job canceled' });
    transcoder.finish(seg('x'));
    await runner.idle();
    expect(transcoder.calls).toHaveLength(1);
    expect(ofType('fail')).toEqual([]);
    expect(runner.status()).toMatchObject({ failures: 0 });
    expect(runner.resumeLeases()).toEqual(leases);
  });

  it('after a reconnect, re-sends unanswered completes and tells where each batch is', async () => {
    runner.handleAssign(batchAssign(1));
    await flush();
    transcoder.finish(seg('x'));
    await runner.idle();
    runner.handleAssign(assign(2));
    await flush();
    const beats = ofType('heartbeat').length;
    runner.handleWelcome();
    expect(ofType('complete')).toHaveLength(6);
    // Batch 1 has nothing left to renew; batch 2 is in the encoder.
    expect(ofType('heartbeat').slice(beats)).toEqual([
      expect.objectContaining({ leases: [{ leaseId: 'lease-2', token: 'tok-2' }], stage: 'transcoding' }),
    ]);
  });
});
