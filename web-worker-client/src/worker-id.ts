/**
 * One worker id per tab. sessionStorage is per tab and survives reloads, so a
 * reloaded tab comes back as the same worker and a new tab is a new worker.
 * But Chromium's "Duplicate tab" copies sessionStorage, which would make two
 * live tabs one worker; so we ask the other tabs of this origin over a
 * BroadcastChannel whether one already holds the id, and take a fresh one if so.
 */
const KEY = 'tabgrid.workerId';
const CHANNEL = 'tabgrid.workerId';
const VALID = /^[A-Za-z0-9_-]{8,64}$/;

type Note = { kind: 'who-has'; workerId: string } | { kind: 'mine'; workerId: string };

export interface WorkerIdOptions {
  /** Defaults to sessionStorage; null when storage is unavailable (the id then lasts as long as the page). */
  readonly storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
  /** How long to wait for another tab to claim the stored id. */
  readonly waitMs?: number;
  readonly newId?: () => string;
}

export interface TabWorkerId {
  readonly workerId: string;
  /** Stops answering other tabs (tests; the page keeps it for its lifetime). */
  close(): void;
}

function defaultStorage(): Pick<Storage, 'getItem' | 'setItem'> | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled by the browser's privacy settings
  }
}

export async function tabWorkerId(opts: WorkerIdOptions = {}): Promise<TabWorkerId> {
  const storage = opts.storage === undefined ? defaultStorage() : opts.storage;
  const newId = opts.newId ?? (() => crypto.randomUUID());
  const stored = safeGet(storage);
  let workerId = stored !== null && VALID.test(stored) ? stored : newId();

  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;
  if (channel && stored === workerId) {
    const taken = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), opts.waitMs ?? 150);
      channel.onmessage = (ev: MessageEvent<Note>) => {
        if (ev.data?.kind === 'mine' && ev.data.workerId === workerId) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      channel.postMessage({ kind: 'who-has', workerId } satisfies Note);
    });
    if (taken) workerId = newId();
  }
  safeSet(storage, workerId);
  if (channel) {
    channel.onmessage = (ev: MessageEvent<Note>) => {
      if (ev.data?.kind === 'who-has' && ev.data.workerId === workerId) {
        channel.postMessage({ kind: 'mine', workerId } satisfies Note);
      }
    };
  }
  return { workerId, close: () => channel?.close() };
}

function safeGet(storage: Pick<Storage, 'getItem'> | null): string | null {
  try {
    return storage?.getItem(KEY) ?? null;
  } catch {
    return null;
  }
}

function safeSet(storage: Pick<Storage, 'setItem'> | null, value: string): void {
  try {
    storage?.setItem(KEY, value);
  } catch {
    // quota or privacy mode: the id still lasts for this page
  }
}
