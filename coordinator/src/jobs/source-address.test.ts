/**
 * The address policy of URL sources, without a single packet: every
 * special range is refused by the function downloadSource asks before it
 * connects (source-download.test.ts shows, on loopback, that a refused
 * address is never connected to). Addresses outside loopback are tested
 * only here, so that no test ever sends traffic to them.
 */
import { describe, expect, it } from 'vitest';
import { isFetchableAddress, pickSourceAddress, type Resolver, refuseSourceEndpoint, UNREACHABLE_SOURCE } from './source-address.js';

const REFUSED = [
  // IPv4 special ranges
  '0.0.0.0',
  '0.1.2.3',
  '127.0.0.1',
  '127.255.255.254',
  '10.0.0.1',
  '10.255.255.255',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.0.1',
  '192.168.1.1',
  '100.64.0.1',
  '169.254.169.254',
  '169.254.0.1',
  '224.0.0.1',
  '239.255.255.250',
  '255.255.255.255',
  '240.0.0.1',
  '192.0.0.1',
  '192.0.2.1',
  '198.18.0.1',
  '198.51.100.1',
  '203.0.113.1',
  // IPv6 special ranges
  '::',
  '::1',
  'fc00::1',
  'fd12:3456::1',
  'fe80::1',
  'fe80::1%eth0',
  'ff02::1',
  'ff05::2',
  '2001:db8::1',
  '::ffff:127.0.0.1',
  '::ffff:10.0.0.1',
  '::ffff:169.254.169.254',
  '::ffff:192.168.1.1',
  '::ffff:0.0.0.0',
  '::7f00:1',
  '64:ff9b::7f00:1',
  '64:ff9b::a9fe:a9fe',
  '2002:7f00:1::1',
  '2001::1',
  '::ffff:0:7f00:1',
  '100::1',
  'not-an-address',
  '',
];

const PUBLIC = ['93.184.216.34', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8'];

describe('isFetchableAddress', () => {
  it('refuses loopback, private, link-local, unique-local, multicast, unspecified, broadcast, reserved and embedded IPv4 forms', () => {
    expect(REFUSED.filter((a) => isFetchableAddress(a, 80))).toEqual([]);
  });

  it('allows public unicast addresses', () => {
    expect(PUBLIC.filter((a) => !isFetchableAddress(a, 80))).toEqual([]);
  });

  it('ALLOW_PRIVATE_SOURCE_URLS=true allows a lab: loopback, private, CGNAT and unique-local, never link-local or the rest', () => {
    const lab = ['127.0.0.1', '::1', '10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', 'fd12:3456::1', '::ffff:192.168.1.1'];
    expect(lab.filter((a) => !isFetchableAddress(a, 80, true))).toEqual([]);
    const still = ['169.254.169.254', 'fe80::1', '0.0.0.0', '::', '224.0.0.1', '255.255.255.255', '192.0.2.1', '64:ff9b::7f00:1'];
    expect(still.filter((a) => isFetchableAddress(a, 80, true))).toEqual([]);
  });

  it('a list of CIDR ranges allows exactly those', () => {
    const ranges = ['10.1.0.0/16', 'fd00:1::/32', '::ffff:192.168.7.0/120'];
    expect(isFetchableAddress('10.1.2.3', 80, ranges)).toBe(true);
    expect(isFetchableAddress('::ffff:10.1.2.3', 80, ranges)).toBe(true);
    expect(isFetchableAddress('fd00:1::5', 80, ranges)).toBe(true);
    expect(isFetchableAddress('192.168.7.9', 80, ranges)).toBe(true);
    expect(isFetchableAddress('10.2.0.1', 80, ranges)).toBe(false);
    expect(isFetchableAddress('192.168.8.1', 80, ranges)).toBe(false);
    expect(isFetchableAddress('127.0.0.1', 80, ranges)).toBe(false);
    expect(isFetchableAddress('169.254.169.254', 80, ranges)).toBe(false);
    expect(isFetchableAddress('8.8.8.8', 80, ranges)).toBe(true);
  });

  it("refuses a registered endpoint's port on loopback whatever the setting, until it is unregistered", () => {
    const unregister = refuseSourceEndpoint(new URL('http://127.0.0.1:45678'));
    expect(isFetchableAddress('127.0.0.1', 45678, true)).toBe(false);
    expect(isFetchableAddress('127.0.0.5', 45678, true)).toBe(false);
    expect(isFetchableAddress('::1', 45678, true)).toBe(false);
    expect(isFetchableAddress('::ffff:127.0.0.1', 45678, ['127.0.0.0/8'])).toBe(false);
    expect(isFetchableAddress('127.0.0.1', 45679, true)).toBe(true);
    unregister();
    unregister();
    expect(isFetchableAddress('127.0.0.1', 45678, true)).toBe(true);
  });
});

describe('pickSourceAddress', () => {
  const refusal = (p: Promise<unknown>) => expect(p).rejects.toThrow(UNREACHABLE_SOURCE);

  it('refuses every special-range literal before any connection, with the one message', async () => {
    for (const host of ['169.254.169.254', '10.0.0.1', '192.168.1.1', '[fc00::1]', '[fe80::1]', '[::ffff:169.254.169.254]', '0.0.0.0']) {
      await refusal(pickSourceAddress(host, 80));
    }
  });

  it('resolves a name once, checks every address, and returns the first', async () => {
    let calls = 0;
    const publicName: Resolver = async () => {
      calls++;
      return [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:2800:220:1::1', family: 6 },
      ];
    };
    expect(await pickSourceAddress('videos.example.com', 443, { resolve: publicName })).toEqual({ address: '93.184.216.34', family: 4 });
    expect(calls).toBe(1);
    const metadata: Resolver = async () => [{ address: '169.254.169.254', family: 4 }];
    await refusal(pickSourceAddress('metadata.example.com', 80, { resolve: metadata }));
    const ula: Resolver = async () => [{ address: 'fd00::1', family: 6 }];
    await refusal(pickSourceAddress('intranet.example.com', 80, { resolve: ula }));
  });
});
