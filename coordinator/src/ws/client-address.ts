/**
 * The address a tab's connection is counted under: for the per-address
 * limits (limits.ts), and stored as `workers.address`, which the failure
 * budget (leases/failure-budget.ts) and the quarantine (workers/worker-table.ts)
 * follow.
 *
 * It is the socket's remote address, unless TRUST_PROXY says how many reverse
 * proxies of ours stand in front: then it is the entry that many places from
 * the right of X-Forwarded-For (each proxy appends the address it saw, so the
 * entries to the left of ours are whatever the client wrote and prove
 * nothing). IPv4-mapped IPv6 is folded to IPv4, and IPv6 is counted per /64:
 * one subscriber usually gets a whole /64, and rotating through it is free.
 */
import type { IncomingMessage } from 'node:http';
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** What an address is counted as: an IPv4 address, or an IPv6 /64 written `a:b:c:d::/64`. */
export function addressKey(ip: string): string {
  const bare = ip.split('%')[0] ?? ip; // zone id (fe80::1%eth0) names an interface, not a host
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return bare;
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted IPv4 included). */
function ipv6Groups(ip: string): number[] {
  let text = ip;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(fill).fill('0'), ...right].map((g) => Number.parseInt(g, 16));
}

/** An X-Forwarded-For entry as proxies write it: a bare address, `1.2.3.4:port`, or `[v6]:port`. */
function parseForwarded(entry: string): string | undefined {
  const e = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (bracketed) return isIP(bracketed[1]!) ? bracketed[1] : undefined;
  if (isIP(e)) return e;
  const withPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(e);
  return withPort && isIPv4(withPort[1]!) ? withPort[1] : undefined;
}

export interface ClientAddress {
  /** What limits and the workers table count it as (addressKey). */
  readonly key: string;
  /** Set when TRUST_PROXY is on but the header did not carry a usable entry: the proxy's own address was used. */
  readonly fallback?: string;
}

/**
 * clientAddress(req, trustProxy) → the connection's address. `trustProxy` is
 * the number of our proxies in front (0: none, X-Forwarded-For ignored).
 */
export function clientAddress(req: Pick<IncomingMessage, 'headers' | 'socket'>, trustProxy: number): ClientAddress {
  const remote = req.socket.remoteAddress ?? 'unknown';
  if (trustProxy <= 0) return { key: addressKey(remote) };
  const header = req.headers['x-forwarded-for'];
  const entries = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').filter((e) => e.trim() !== '');
  const entry = entries[entries.length - trustProxy];
  const ip = entry === undefined ? undefined : parseForwarded(entry);
  if (ip === undefined) {
    return { key: addressKey(remote), fallback: `X-Forwarded-For has no usable entry ${trustProxy} from the right` };
  }
  return { key: addressKey(ip) };
}
