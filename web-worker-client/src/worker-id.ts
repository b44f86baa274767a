/**
 * The tab's worker identity, as the coordinator issued it: a worker id (shown
 * on the page and in the dashboard) and a credential (presented in every
 * hello, shown nowhere). The tab never makes either up: its first hello
 * carries none, and the welcome brings both.
 *
 * Kept in sessionStorage, which is per tab and survives reloads, so a
 * reloaded tab comes back as the same worker and a new tab is a new worker.
 * But Chromium's "Duplicate tab" copies sessionStorage, which would make two
 * live tabs one worker; so we ask the other tabs of this origin over a
 * BroadcastChannel whether one already holds the id, and start without an
 * identity if so (the coordinator then issues a fresh one). Only the worker
 * id crosses the channel, never the credential.
 */
import type { StoredIdentity, WorkerIdentity } from './identity.js';

const KEY = 'tabgrid.worker';
/** Where protocol-1 pages kept an id the tab chose itself; removed, it proves nothing now. */
const OLD_KEY = 'tabgrid.workerId';
const CHANNEL = 'tabgrid.workerId';
const VALID_ID = /^[A-Za-z0-9_-]{8,64}$/;

type Note = { kind: 'who-has'; workerId: string } | { kind: 'mine'; workerId: string };

export type { StoredIdentity } from './identity.js';

export interface IdentityOptions {
  /** Defaults to sessionStorage; null when storage is unavailable (the identity then lasts as long as the page). */
  readonly storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  /** How long to wait for another tab to claim the stored id. */
  readonly waitMs?: number;
}

/** The page's WorkerIdentity, kept in sessionStorage. */
export interface TabIdentity extends WorkerIdentity {
  /** Stops answering other tabs (tests; the page keeps it for its lifetime). */
  close(): void;
}

function defaultStorage(): Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled by the browser's privacy settings
  }
}

function parseStored(text: string | null): StoredIdentity | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<StoredIdentity>;
    if (typeof v.workerId === 'string' && VALID_ID.test(v.workerId) && typeof v.credential === 'string' && v.credential.length > 0) {
      return { workerId: v.workerId, credential: v.credential };
    }
  } catch {
    // not ours, or damaged: start without an identity
  }
  return null;
}

export async function tabIdentity(opts: IdentityOptions = {}): Promise<TabIdentity> {
  const storage = opts.storage === undefined ? defaultStorage() : opts.storage;
  safe(() => storage?.removeItem(OLD_KEY));
  let current = parseStored(safe(() => storage?.getItem(KEY) ?? null) ?? null);

  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;
  if (channel && current) {
    const stored = current.workerId;
    const taken = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), opts.waitMs ?? 150);
      channel.onmessage = (ev: MessageEvent<Note>) => {
        if (ev.data?.kind === 'mine' && ev.data.workerId === stored) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      channel.postMessage({ kind: 'who-has', workerId: stored } satisfies Note);
    });
    if (taken) {
      current = null;
      safe(() => storage?.removeItem(KEY));
    }
  }
  if (channel) {
    channel.onmessage = (ev: MessageEvent<Note>) => {
      if (ev.data?.kind === 'who-has' && current && ev.data.workerId === current.workerId) {
        channel.postMessage({ kind: 'mine', workerId: current.workerId } satisfies Note);
      }
    };
  }
  return {
    credential: () => current?.credential ?? null,
    workerId: () => current?.workerId ?? null,
    remember(issued) {
      current = { workerId: issued.workerId, credential: issued.credential };
      safe(() => storage?.setItem(KEY, JSON.stringify(current)));
    },
    close: () => channel?.close(),
  };
}

/** Storage may throw (quota, privacy mode): the identity still lasts for this page. */
function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
