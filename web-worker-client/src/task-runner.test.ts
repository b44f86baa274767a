import type { AssignMessage, EncodeParams } from '@tabgrid/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OutgoingMessage } from './connection.js';
import { TaskRunner, sha256Hex } from './task-runner.js';
import { TranscodeError, type TranscodeOptions, type Transcoder } from './transcoder/types.js';

const params: EncodeParams = {
  rendition: '480p', codec: 'h264', width: 854, height: 480, rotation: 0,
  crf: 23, maxrateKbps: 1500, bufsizeKbps: 3000, preset: 'veryfast', frames: 120,
};
const chunk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
const segment = new TextEncoder().encode('abc');
const SHA_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

const assign = (n = 1, over: Partial<AssignMessage> = {}): AssignMessage => ({
  type: 'assign', id: `a${n}`, leaseId: `lease-${n}`, token: `tok-${n}`, attempt: 1, jobId: 'job-0123456789', chunk: n,
  input: { url: `https://storage.test/chunk-${n}.mkv`, size: chunk.byteLength },
  output: { url: `https://storage.test/seg-${n}.mp4?sig=x`, contentType: 'video/mp4' },
  params, ...over,
});

/** A transcoder whose transcode() waits until the test calls finish() or fail(), honouring abort like the real one. */
class FakeTranscoder implements Transcoder {
  readonly kind = 'wasm-x264' as const;
  readonly threads = 1;
  readonly multiThread = false;
  readonly loaded = true;
  calls: { input: Uint8Array; params: EncodeParams; opts: TranscodeOptions }[] = [];
  finish: (out: Uint8Array) => void = () => undefined;
  fail: (e: Error) => void = () => undefined;
  load = async () => undefined;
  dispose = () => undefined;
  transcode(input: Uint8Array, p: EncodeParams, opts: TranscodeOptions = {}): Promise<Uint8Array> {
    this.calls.push({ input: input.slice(), params: p, opts });
    return new Promise((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
      opts.signal?.addEventListener('abort', () => reject(new TranscodeError('aborted', 'transcode aborted')));
    });
  }
}

let sent: (OutgoingMessage & { id: string })[];
let fetches: { url: string; method: string; body?: Uint8Array; contentType?: string | null }[];
let transcoder: FakeTranscoder;
let responses: { get?: () => Response; put?: () => Response };
let runner: TaskRunner;

const fakeFetch: typeof fetch = async (input, init) => {
  const method = init?.method ?? 'GET';
  init?.signal?.throwIfAborted();
  const raw = init?.body;
  const body = raw instanceof Uint8Array ? Uint8Array.from(raw as Uint8Array) : undefined;
  const call: (typeof fetches)[number] = { url: String(input), method, contentType: new Headers(init?.headers).get('content-type') };
  if (body) call.body = body;
  fetches.push(call);
  if (method === 'GET') return responses.get?.() ?? new Response(chunk.slice());
  return responses.put?.() ?? new Response(null, { status: 200 });
};

const ofType = <T extends OutgoingMessage['type']>(type: T) => sent.filter((m) => m.type === type) as Extract<OutgoingMessage & { id: string }, { type: T }>[];
/** Lets pending promise callbacks (fetch, digest) run. */
const flush = async () => {
  for (let i = 0; i < 20; i++) await vi.advanceTimersByTimeAsync(0);
};

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  sent = [];
  fetches = [];
  responses = {};
  transcoder = new FakeTranscoder();
  let n = 0;
  runner = new TaskRunner({
    transcoder,
    fetch: fakeFetch,
    heartbeatIntervalMs: () => 5000,
    send: (m) => {
      const id = `m${++n}`;
      sent.push({ ...m, id });
      return id;
    },
  });
});
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
    expect(fetches[1]).toMatchObject({ url: 'https://storage.test/seg-1.mp4?sig=x', method: 'PUT', contentType: 'video/mp4', body: segment });
    const [complete] = ofType('complete');
    expect(complete).toMatchObject({ leaseId: 'lease-1', token: 'tok-1', size: 3, sha256: SHA_ABC });
    expect(complete?.encodeMs).toBeGreaterThanOrEqual(0);
    expect(ofType('fail')).toEqual([]);
    expect(runner.status().current).toBeNull();
  });

  it('computes sha256 as lowercase hex', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe(SHA_ABC);
  });

  it('heartbeats from the moment of assignment, every interval, with stage, progress and frames, until complete', async () => {
    runner.handleAssign(assign());
    expect(ofType('heartbeat')).toEqual([expect.objectContaining({ leaseId: 'lease-1', token: 'tok-1', stage: 'downloading', progress: 0 })]);
    await flush();
    transcoder.calls[0]?.opts.onProgress?.({ frames: 60, ratio: 0.5 });
    await vi.advanceTimersByTimeAsync(5000);
    expect(ofType('heartbeat').at(-1)).toMatchObject({ stage: 'transcoding', frames: 60, progress: 0.5 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ofType('heartbeat')).toHaveLength(4);
    transcoder.finish(segment.slice());
    await runner.idle();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(ofType('heartbeat')).toHaveLength(4);
    const progress = ofType('heartbeat').map((h) => h.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('fails a second assignment with "busy" and keeps working on the first', async () => {
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

  it('stops without fail when the coordinator answers a heartbeat with lease_lost', async () => {
    runner.handleAssign(assign());
    await flush();
    const hb = ofType('heartbeat')[0]!;
    runner.handleError({ type: 'error', id: 'e1', replyTo: hb.id, code: 'lease_lost', message: 'expired' });
    await runner.idle();
    expect(ofType('fail')).toEqual([]);
    expect(runner.status().current).toBeNull();
  });

  it.each([
    ['a refused download', { get: () => new Response('<Error><Code>AccessDenied</Code></Error>', { status: 403 }) }, /^downloading: GET chunk: HTTP 403 <Error><Code>AccessDenied/],
    ['a short download', { get: () => new Response(chunk.slice(0, 5)) }, /^downloading: GET chunk: got 5 bytes, expected 8/],
    ['a refused upload', { put: () => new Response('SignatureDoesNotMatch', { status: 403 }) }, /^uploading: PUT segment: HTTP 403 SignatureDoesNotMatch/],
  ])('sends fail with a clear reason on %s', async (_name, r, reason) => {
    responses = r;
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

  it('counts accepted results as done and rejected ones as failures', async () => {
    for (const n of [1, 2]) {
      runner.handleAssign(assign(n));
      await flush();
      transcoder.finish(segment.slice());
      await runner.idle();
    }
    runner.handleResult({ type: 'result', id: 'x1', replyTo: ofType('complete')[0]!.id, leaseId: 'lease-1', accepted: true });
    runner.handleResult({ type: 'result', id: 'x2', replyTo: ofType('complete')[1]!.id, leaseId: 'lease-2', accepted: false, reason: 'wrong frame count' });
    runner.handleResult({ type: 'result', id: 'x3', replyTo: 'zz', leaseId: 'lease-1', accepted: true });
    expect(runner.status()).toMatchObject({ done: 1, failures: 1, lastError: 'segment rejected: wrong frame count' });
  });

  it('abandon() fails the current lease at once and stops', async () => {
    runner.handleAssign(assign());
    await flush();
    runner.abandon('tab closed');
    expect(ofType('fail')).toEqual([expect.objectContaining({ leaseId: 'lease-1', reason: 'tab closed' })]);
    await runner.idle();
    expect(ofType('fail')).toHaveLength(1);
  });
});
