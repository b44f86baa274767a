/**
 * The chunk download and the segment upload, through presigned URLs, with
 * retries for what a restart or a blip causes. With the embedded storage the
 * presigned URLs point at the coordinator itself (`/storage/…`), so a
 * coordinator killed with SIGKILL and started again makes a GET or PUT fail
 * with a network error or a 502/503 for the few seconds it is down; the lease
 * is still ours (the database keeps it for the TTL), so we retry instead of
 * failing the task. A 4xx is an answer (expired or wrong signature): no retry.
 */

/** A failure worth reporting to the coordinator with `fail`. */
export class TaskFailure extends Error {
  override readonly name = 'TaskFailure';
}

/** A failure that may pass: network error, 5xx, 408, 429. */
class TransientFailure extends TaskFailure {}

export interface TransferOptions {
  readonly fetch?: typeof fetch;
  readonly signal: AbortSignal;
  /** Waits before retry n (0-based); no entry = give up. */
  readonly retryDelaysMs?: readonly number[];
  readonly onRetry?: (what: string, error: string, delayMs: number) => void;
}

/** 1 + 2 + 4 + 8 + 16 = 31 s: a coordinator restart (PGlite recovery included) measured well under that. */
export const TRANSFER_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000, 8000, 16_000];

/** A server-declared chunk size beyond this is a bug, not a chunk: refuse it rather than allocate it. */
const MAX_CHUNK_BYTES = 1024 ** 3;

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

async function bodySnippet(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/**
 * A fetch that threw: a network error may pass, so it is retried; a
 * TaskFailure is the injected fetch refusing the request (the native
 * worker's URL guard), which no retry changes.
 */
function fetchFailure(what: string, e: unknown): TaskFailure {
  return e instanceof TaskFailure ? e : new TransientFailure(`${what} failed: ${describe(e)}`, { cause: e });
}

async function httpFailure(what: string, res: Response): Promise<TaskFailure> {
  const message = `${what}: HTTP ${res.status} ${await bodySnippet(res)}`.trim();
  return res.status >= 500 || res.status === 408 || res.status === 429 ? new TransientFailure(message) : new TaskFailure(message);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function withRetries<T>(what: string, opts: TransferOptions, attempt: () => Promise<T>): Promise<T> {
  const delays = opts.retryDelaysMs ?? TRANSFER_RETRY_DELAYS_MS;
  for (let n = 0; ; n++) {
    opts.signal.throwIfAborted();
    try {
      return await attempt();
    } catch (e) {
      opts.signal.throwIfAborted();
      const delay = delays[n];
      if (!(e instanceof TransientFailure) || delay === undefined) {
        throw n === 0 || !(e instanceof TaskFailure) ? e : new TaskFailure(`${e.message} (after ${n + 1} tries)`, { cause: e });
      }
      opts.onRetry?.(what, e.message, delay);
      await sleep(delay, opts.signal);
    }
  }
}

/** GET exactly `size` bytes into one buffer. */
export function download(url: string, size: number, opts: TransferOptions, onBytes: (n: number) => void): Promise<Uint8Array> {
  if (size > MAX_CHUNK_BYTES) return Promise.reject(new TaskFailure(`chunk size ${size} exceeds ${MAX_CHUNK_BYTES} bytes`));
  return withRetries('GET chunk', opts, async () => {
    const res = await (opts.fetch ?? fetch)(url, { signal: opts.signal }).catch((e: unknown) => {
      throw fetchFailure('GET chunk', e);
    });
    if (!res.ok) throw await httpFailure('GET chunk', res);
    const reader = res.body?.getReader();
    if (!reader) throw new TaskFailure('GET chunk: response has no body');
    const out = new Uint8Array(size);
    let n = 0;
    onBytes(0);
    for (;;) {
      const { done, value } = await reader.read().catch((e: unknown) => {
        throw new TransientFailure(`GET chunk: connection lost after ${n} bytes: ${describe(e)}`, { cause: e });
      });
      if (done) break;
      if (n + value.byteLength > size) {
        await reader.cancel();
        throw new TaskFailure(`GET chunk: more than the announced ${size} bytes`);
      }
      out.set(value, n);
      n += value.byteLength;
      onBytes(n);
    }
    if (n !== size) throw new TaskFailure(`GET chunk: got ${n} bytes, expected ${size}`);
    return out;
  });
}

/** PUT the segment; a retry sends the same bytes to the same presigned URL (the key is per attempt, so nothing else writes it). */
export function upload(url: string, bytes: Uint8Array<ArrayBuffer>, opts: TransferOptions): Promise<void> {
  return withRetries('PUT segment', opts, async () => {
    const res = await (opts.fetch ?? fetch)(url, {
      method: 'PUT',
      body: bytes,
      headers: { 'Content-Type': 'video/mp4' },
      signal: opts.signal,
    }).catch((e: unknown) => {
      throw fetchFailure('PUT segment', e);
    });
    if (!res.ok) throw await httpFailure('PUT segment', res);
  });
}
