/**
 * Shared by the task runner's tests: a runner wired to a fake transcoder, a
 * fake fetch and a recording `send`, reset by setup() before each test. The
 * bindings are live (ES modules), so tests read the current ones.
 */
import type { AssignMessage, EncodeParams } from '@tabgrid/shared';
import { vi } from 'vitest';
import type { OutgoingMessage } from '../connection.js';
import { TaskRunner } from '../task-runner.js';
import { TranscodeError, type TranscodeOptions, type Transcoder } from '../transcoder/types.js';

export const params: EncodeParams = {
  rendition: '480p',
  codec: 'h264',
  width: 854,
  height: 480,
  rotation: 0,
  crf: 23,
  maxrateKbps: 1500,
  bufsizeKbps: 3000,
  preset: 'veryfast',
  frames: 120,
};
export const chunk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
export const segment = new TextEncoder().encode('abc');
export const SHA_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

/** Chunk n as a one-rung assignment (lease-n, tok-n, seg-n.mp4). */
export const assign = (n = 1, over: Partial<AssignMessage> = {}): AssignMessage => ({
  type: 'assign',
  id: `a${n}`,
  jobId: 'job-0123456789',
  chunk: n,
  input: { url: `https://storage.test/chunk-${n}.mkv`, size: chunk.byteLength },
  rungs: [
    {
      leaseId: `lease-${n}`,
      token: `tok-${n}`,
      attempt: 1,
      output: { url: `https://storage.test/seg-${n}.mp4?sig=x`, contentType: 'video/mp4' },
      params,
    },
  ],
  ...over,
});

export const RUNG_PARAMS: Record<'720p' | '480p' | '360p', EncodeParams> = {
  '720p': { ...params, rendition: '720p', width: 1280, height: 720, maxrateKbps: 3000, bufsizeKbps: 6000 },
  '480p': params,
  '360p': { ...params, rendition: '360p', width: 640, height: 360, maxrateKbps: 800, bufsizeKbps: 1600 },
};

/** Chunk n with several rungs: lease-n-720p, tok-n-720p, seg-n-720p.mp4, … */
export const batchAssign = (n: number, renditions: readonly (keyof typeof RUNG_PARAMS)[] = ['720p', '480p', '360p']): AssignMessage => ({
  ...assign(n),
  rungs: renditions.map((r) => ({
    leaseId: `lease-${n}-${r}`,
    token: `tok-${n}-${r}`,
    attempt: 1,
    output: { url: `https://storage.test/seg-${n}-${r}.mp4?sig=x`, contentType: 'video/mp4' },
    params: RUNG_PARAMS[r],
  })),
});

/** A transcoder whose transcode() waits until the test calls finish() or fail(), honouring abort like the real one. */
export class FakeTranscoder implements Transcoder {
  readonly kind = 'wasm-x264' as const;
  readonly threads = 1;
  readonly multiThread = false;
  readonly maxRungs = 3;
  readonly loaded = true;
  calls: { input: Uint8Array; rungs: readonly EncodeParams[]; params: EncodeParams; opts: TranscodeOptions }[] = [];
  /** Resolves the pending call: one segment for every rung, or one per rung. */
  finish: (out: Uint8Array | Uint8Array[]) => void = () => undefined;
  fail: (e: Error) => void = () => undefined;
  load = async () => undefined;
  dispose = () => undefined;
  transcode(input: Uint8Array, rungs: readonly EncodeParams[], opts: TranscodeOptions = {}): Promise<Uint8Array[]> {
    this.calls.push({ input: input.slice(), rungs, params: rungs[0]!, opts });
    return new Promise((resolve, reject) => {
      this.finish = (out) => resolve(Array.isArray(out) ? out : rungs.map(() => out.slice()));
      this.fail = reject;
      opts.signal?.addEventListener('abort', () => reject(new TranscodeError('aborted', 'transcode aborted')));
    });
  }
}

export let sent: (OutgoingMessage & { id: string })[];
/** false: the connection is down, send() returns null like Connection.send for unqueued messages. */
export let connected: boolean;
export let fetches: { url: string; method: string; body?: Uint8Array; contentType?: string | null }[];
export let transcoder: FakeTranscoder;
export let responses: { get?: () => Response; put?: () => Response };
export let runner: TaskRunner;
/** What the runner's acceptingWork() answers (false: pausing). */
export let accepting: boolean;

export const fakeFetch: typeof fetch = async (input, init) => {
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

export const ofType = <T extends OutgoingMessage['type']>(type: T) =>
  sent.filter((m) => m.type === type) as Extract<OutgoingMessage & { id: string }, { type: T }>[];
/** Lets pending promise callbacks (fetch, digest) run. */
export const flush = async () => {
  for (let i = 0; i < 20; i++) await vi.advanceTimersByTimeAsync(0);
};

/**
 * Waits for real async work the fake clock does not drive (WebCrypto's
 * digest runs on Node's thread pool): yields to the event loop until `pred`.
 */
export async function until(pred: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (pred()) return;
    await vi.advanceTimersByTimeAsync(0);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function setup(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  sent = [];
  fetches = [];
  responses = {};
  transcoder = new FakeTranscoder();
  let n = 0;
  connected = true;
  accepting = true;
  runner = new TaskRunner({
    transcoder: () => transcoder,
    acceptingWork: () => accepting,
    fetch: fakeFetch,
    heartbeatIntervalMs: () => 5000,
    transferRetryDelaysMs: [1000, 2000],
    random: () => 0,
    send: (m, o) => {
      if (!connected && !o?.queue) return null;
      const id = `m${++n}`;
      sent.push({ ...m, id });
      return id;
    },
  });
}

export function setResponses(r: typeof responses): void {
  responses = r;
}

export function setConnected(up: boolean): void {
  connected = up;
}

export function setAccepting(on: boolean): void {
  accepting = on;
}

/** Runs lease n up to its `complete`; returns that message. */
export async function runToComplete(n = 1): Promise<Extract<OutgoingMessage & { id: string }, { type: 'complete' }>> {
  runner.handleAssign(assign(n));
  await flush();
  transcoder.finish(segment.slice());
  await runner.idle();
  return ofType('complete').at(-1)!;
}
