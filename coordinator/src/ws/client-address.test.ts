import { describe, expect, it } from 'vitest';
import { addressKey, clientAddress } from './client-address.js';

const req = (remoteAddress: string, xff?: string | string[]) => ({
  socket: { remoteAddress } as never,
  headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
});

describe('addressKey', () => {
  it('keeps IPv4, folds IPv4-mapped IPv6 to IPv4, and counts IPv6 per /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:7f00:2')).toBe('127.0.0.2');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    // Rotating the interface half of the address is free for its owner: same key.
    expect(addressKey('2001:db8:1:2::99')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('2001:db8::1.2.3.4')).toBe('2001:db8:0:0::/64');
  });
});

describe('clientAddress', () => {
  it('is the socket address and ignores X-Forwarded-For unless TRUST_PROXY says otherwise', () => {
    expect(clientAddress(req('127.0.0.1', '198.51.100.1'), 0)).toEqual({ key: '127.0.0.1' });
  });

  it('with n proxies, takes the entry n places from the right: what the client wrote to the left proves nothing', () => {
    expect(clientAddress(req('10.0.0.2', '6.6.6.6, 198.51.100.1'), 1)).toEqual({ key: '198.51.100.1' });
    expect(clientAddress(req('10.0.0.2', ['6.6.6.6', '198.51.100.1, 10.0.0.9']), 2)).toEqual({ key: '198.51.100.1' });
    expect(clientAddress(req('10.0.0.2', '198.51.100.1:5555'), 1)).toEqual({ key: '198.51.100.1' });
    expect(clientAddress(req('10.0.0.2', '[2001:db8::5]:443'), 1)).toEqual({ key: '2001:db8:0:0::/64' });
  });

  it('falls back to the socket address, and says so, when the header is missing, short or garbage', () => {
    for (const header of [undefined, '', 'unknown', 'not an ip', '198.51.100.1']) {
      const got = clientAddress(req('10.0.0.2', header), header === '198.51.100.1' ? 2 : 1);
      expect(got.key).toBe('10.0.0.2');
      expect(got.fallback).toMatch(/X-Forwarded-For/);
    }
  });
});
