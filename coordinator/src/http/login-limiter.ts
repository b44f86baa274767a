/**
 * A small limit on wrong operator tokens per client address: after
 * `maxFailures` wrong tokens within `windowMs` (5 in 15 minutes), that
 * address may not present a token at all (login or bearer) until the oldest
 * failure leaves the window; it gets 429 with Retry-After, and the token is
 * not even compared, so a correct guess during the lockout reveals nothing.
 * A 24-character token is out of reach of guessing anyway; this keeps
 * logs and the CPU quiet, and stops a script that hammers.
 *
 * Kept in memory, per coordinator: it forgets on restart, and several
 * coordinators each allow their own five, which leaves guessing just as
 * hopeless. IPv6 clients are counted per /64, the block one subscriber gets.
 * Behind a reverse proxy every client shares the proxy's address, so a
 * stranger's failures lock the operators out too for a while: bearer clients
 * and existing sessions are not affected unless they send a token.
 */
import { isIP } from 'node:net';
import type { HttpBindings } from '@hono/node-server';

export interface LoginLimiterOptions {
  readonly maxFailures?: number;
  readonly windowMs?: number;
  /** Addresses remembered at most; the oldest is forgotten first. */
  readonly maxAddresses?: number;
  readonly now?: () => number;
}

export type LimitVerdict = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

export interface LoginLimiter {
  check(client: string): LimitVerdict;
  /** A wrong token from `client`. */
  fail(client: string): void;
  /** A right one: its earlier failures are forgiven. */
  succeed(client: string): void;
}

export function createLoginLimiter(opts: LoginLimiterOptions = {}): LoginLimiter {
  const maxFailures = opts.maxFailures ?? 5;
  const windowMs = opts.windowMs ?? 15 * 60_000;
  const maxAddresses = opts.maxAddresses ?? 10_000;
  const now = opts.now ?? Date.now;
  const failures = new Map<string, number[]>();

  const recent = (client: string): number[] => {
    const since = now() - windowMs;
    const kept = (failures.get(client) ?? []).filter((t) => t > since);
    if (kept.length === 0) failures.delete(client);
    else failures.set(client, kept);
    return kept;
  };

  return {
    check(client) {
      const times = recent(client);
      if (times.length < maxFailures) return { allowed: true };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((times[0]! + windowMs - now()) / 1000)) };
    },
    fail(client) {
      const times = recent(client);
      times.push(now());
      failures.delete(client); // re-inserted last: Map order is the eviction order
      failures.set(client, times.slice(-maxFailures));
      while (failures.size > maxAddresses) failures.delete(failures.keys().next().value!);
    },
    succeed(client) {
      failures.delete(client);
    },
  };
}

/** The key a client is counted under: its IPv4 address, or its IPv6 /64; `in-process` when no socket (app.request()). */
export function clientKey(env: unknown): string {
  const raw = (env as Partial<HttpBindings> | undefined)?.incoming?.socket?.remoteAddress;
  if (!raw) return 'in-process';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(raw);
  if (mapped) return mapped[1]!;
  if (isIP(raw) !== 6) return raw;
  const groups = new URL(`http://[${raw}]/`).hostname.slice(1, -1);
  // Expand "::" to get the first four groups.
  const [head = '', tail = ''] = groups.split('::');
  const left = head ? head.split(':') : [];
  const right = groups.includes('::') ? (tail ? tail.split(':') : []) : [];
  const full = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${full.slice(0, 4).join(':')}::/64`;
}
