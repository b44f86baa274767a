/**
 * The Host allow-list: which names a request may address this coordinator
 * by. It defeats DNS rebinding: a page on attacker.example whose name is
 * re-pointed at this machine (or at 127.0.0.1) makes the browser send
 * `Host: attacker.example`, which no list here holds, so the page never
 * reads an answer; a browser always sends the name it resolved.
 *
 * Allowed, always with the port the connection arrived on (or PUBLIC_URL's):
 *   - the host of PUBLIC_URL, when set (behind a proxy, the name browsers use);
 *   - localhost, 127.0.0.1 and [::1]: only this machine can use those names,
 *     and a proxy on it forwards with them by default (nginx sends the
 *     upstream's address), as do health checks;
 *   - HOST itself when it is a specific address, and this machine's interface
 *     addresses when HOST is a wildcard (0.0.0.0, ::): an IP literal cannot be
 *     rebound, the browser's origin then *is* that address.
 *
 * The HTTP middleware is `hostCheck`; the WebSocket upgrade (ws/) checks
 * with the same `createHostAllowList(config).allows(req.headers.host,
 * req.socket.localPort)`.
 */
import os from 'node:os';
import type { HttpBindings } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import type { Config } from '../config.js';
import { MisdirectedRequestError } from '../errors.js';

/** A Host header's syntax (RFC 9110 uri-host [":" port]), before any lookup: a name, an IPv4 literal or a bracketed IPv6 literal. */
const HOST_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.?)(?::(\d{1,5}))?$/i;
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
/** Interface addresses can change (DHCP, a VPN coming up); read them again at most this often. */
const INTERFACES_REFRESH_MS = 60_000;

export interface HostAllowList {
  /**
   * Whether a request whose Host header is `host`, arriving on local port
   * `localPort`, addresses this coordinator. A missing or malformed Host is
   * refused. `localPort` defaults to PORT.
   */
  allows(host: string | undefined, localPort?: number): boolean;
  /** The origin browsers should use, for messages: PUBLIC_URL's, or "the address it listens on". */
  readonly expected: string;
}

/** `name:port` in lower case, IPv6 bracketed; undefined when `host` is not a Host header. */
export function normalizeHost(host: string, defaultPort: number): string | undefined {
  const m = HOST_RE.exec(host.trim());
  if (!m) return undefined;
  const name = m[1]!.toLowerCase().replace(/\.$/, '');
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  // Canonical IPv6 (0:0:0:0:0:0:0:1 → ::1), as the URL parser writes it.
  const canonical = name.startsWith('[') ? new URL(`http://${name}/`).hostname : name;
  return `${canonical}:${port}`;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) out.push(a.family === 'IPv6' ? `[${a.address.replace(/%.*$/, '')}]` : a.address);
  }
  return out;
}

export function createHostAllowList(config: Pick<Config, 'publicUrl' | 'host' | 'port'>): HostAllowList {
  const publicUrl = config.publicUrl ? new URL(config.publicUrl) : undefined;
  const defaultPort = publicUrl?.protocol === 'https:' ? 443 : 80;
  const publicHost = publicUrl ? normalizeHost(publicUrl.host, defaultPort) : undefined;
  const listenHost = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host;
  let interfaces: { at: number; names: string[] } | undefined;

  const namesAtPort = (): string[] => {
    if (!isWildcard(config.host)) return [...LOOPBACK_NAMES, listenHost];
    if (!interfaces || Date.now() - interfaces.at > INTERFACES_REFRESH_MS) interfaces = { at: Date.now(), names: interfaceAddresses() };
    return [...LOOPBACK_NAMES, ...interfaces.names];
  };

  return {
    expected: publicUrl ? publicUrl.origin : 'the address it listens on (or set PUBLIC_URL)',
    allows(host, localPort = config.port) {
      if (host === undefined || host.length > 300) return false;
      const wanted = normalizeHost(host, defaultPort);
      if (wanted === undefined) return false;
      if (wanted === publicHost) return true;
      return namesAtPort().some((name) => normalizeHost(`${name}:${localPort}`, defaultPort) === wanted);
    },
  };
}

/** The port a request arrived on, from the socket; undefined for a request that never crossed one (app.request() in tests). */
export function localPortOf(env: unknown): number | undefined {
  return (env as Partial<HttpBindings> | undefined)?.incoming?.socket?.localPort;
}

/**
 * Refuses (421 Misdirected Request) any request whose Host the list does not
 * hold. Only a request that never crossed a socket (app.request() in tests)
 * may come without a Host: the Node server refuses those itself (400).
 */
export function hostCheck(hosts: HostAllowList): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host');
    const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
    if (!(host === undefined && incoming === undefined) && !hosts.allows(host, localPortOf(c.env))) {
      const named = host !== undefined && HOST_RE.test(host) ? `"${host}"` : 'an invalid or missing Host header';
      throw new MisdirectedRequestError(
        `this coordinator is not served under ${named}: use ${hosts.expected}. ` +
          'If browsers reach it by another name (a proxy, a DNS name), set PUBLIC_URL to that origin',
      );
    }
    await next();
  };
}
