/**
 * Which addresses a URL source may be fetched from, and the address to
 * connect to for a URL's host: the coordinator resolves the name itself,
 * checks every address it got, and connects to the one it checked (the
 * connection never looks the name up again, so a DNS answer that changes
 * between check and connect, "rebinding", reaches nothing new).
 *
 * Allowed: public unicast addresses only (IPv4 outside every special range,
 * IPv6 inside 2000::/3, the global unicast block), classified by ipaddr.js.
 * Refused: loopback, private, carrier-grade NAT, link-local (the cloud
 * metadata address 169.254.169.254 included), unique-local, multicast,
 * unspecified, broadcast, reserved and documentation ranges, and IPv6 forms
 * that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d is judged as the
 * IPv4 address it maps; NAT64, 6to4 and Teredo are refused outright).
 * Decimal, octal and hex IPv4 forms (2130706433, 0177.0.0.1, 0x7f.1) are
 * normalised by the URL parser to dotted form before they get here.
 *
 * ALLOW_PRIVATE_SOURCE_URLS=true also allows loopback, private,
 * carrier-grade NAT and unique-local addresses (a lab); a list of CIDR
 * ranges allows exactly those. Link-local never, unless listed. The embedded
 * S3 server's port on loopback is refused whatever the setting: it checks no
 * signatures, and a URL source there would read any object around the
 * gateway (storage/embedded-s3.ts).
 *
 * Every refusal and every connection failure is the same InvalidSourceError
 * with the same words, so the answer tells a port scanner nothing.
 */
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { InvalidSourceError } from '../errors.js';

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** A host name → every address it resolves to. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** false: public only; true: also the private ranges; a list: also exactly these CIDR ranges. */
export type PrivateAddresses = boolean | readonly string[];

/** The one answer for every refused or unreachable URL. */
export const UNREACHABLE_SOURCE =
  'could not download the URL: its host is not a public address this coordinator fetches from, or it could not be reached; give the URL of a video on a public http or https server';

export function unreachableSource(cause?: unknown): InvalidSourceError {
  return new InvalidSourceError(UNREACHABLE_SOURCE, cause === undefined ? undefined : { cause });
}

/** The system's resolver (getaddrinfo: /etc/hosts, then DNS), every address. */
export const systemResolver: Resolver = async (hostname) => {
  const found = await lookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

const LAB_RANGES = new Set(['loopback', 'private', 'carrierGradeNat', 'uniqueLocal']);
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/** Host:port pairs on loopback that are never fetched (the embedded S3 server's). */
const refusedLoopbackPorts = new Map<number, number>();

/**
 * Refuses URL sources to `endpoint`'s port on loopback for as long as the
 * returned function is not called (the coordinator registers its embedded
 * S3 server at start and unregisters it at close).
 */
export function refuseSourceEndpoint(endpoint: URL): () => void {
  const port = Number(endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80));
  refusedLoopbackPorts.set(port, (refusedLoopbackPorts.get(port) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const n = (refusedLoopbackPorts.get(port) ?? 1) - 1;
    if (n > 0) refusedLoopbackPorts.set(port, n);
    else refusedLoopbackPorts.delete(port);
  };
}

/** The address as ipaddr.js sees it, IPv4-mapped IPv6 turned into the IPv4 address it maps; null if it is not an address. */
function parse(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return null;
  return ipaddr.process(bare);
}

/** Whether a URL source may be fetched from `address` at `port`. */
export function isFetchableAddress(address: string, port: number, allowPrivate: PrivateAddresses = false): boolean {
  const ip = parse(address);
  if (!ip) return false;
  const range = ip.range();
  if (range === 'loopback' && refusedLoopbackPorts.has(port)) return false;
  if (range === 'unicast' && (ip.kind() === 'ipv4' || (ip as ipaddr.IPv6).match(GLOBAL_UNICAST_V6))) return true;
  if (allowPrivate === true) return LAB_RANGES.has(range);
  if (Array.isArray(allowPrivate)) return allowPrivate.some((cidr) => inRange(ip, cidr));
  return false;
}

/** `ip` (already processed) inside `cidr`; a range written IPv4-mapped (::ffff:10.0.0.0/104) is taken as the IPv4 range. */
function inRange(ip: ipaddr.IPv4 | ipaddr.IPv6, cidr: string): boolean {
  let [net, bits] = ipaddr.parseCIDR(cidr);
  if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    net = (net as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  return net.kind() === ip.kind() && ip.match(net, bits);
}

/**
 * The address to connect to for `hostname`: the literal itself, or the first
 * address the name resolves to, when every address it resolves to is
 * fetchable. Anything else is the uniform refusal.
 */
export async function pickSourceAddress(
  hostname: string,
  port: number,
  opts: { allowPrivate?: PrivateAddresses; resolve?: Resolver } = {},
): Promise<ResolvedAddress> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  let candidates: readonly ResolvedAddress[];
  if (ipaddr.isValid(bare)) {
    candidates = [{ address: bare, family: ipaddr.parse(bare).kind() === 'ipv6' ? 6 : 4 }];
  } else {
    try {
      candidates = await (opts.resolve ?? systemResolver)(bare);
    } catch (err) {
      throw unreachableSource(err);
    }
  }
  if (candidates.length === 0) throw unreachableSource();
  // All or nothing: a name that also points somewhere private is not a public server's name.
  if (!candidates.every((c) => isFetchableAddress(c.address, port, opts.allowPrivate))) throw unreachableSource();
  return candidates[0]!;
}
