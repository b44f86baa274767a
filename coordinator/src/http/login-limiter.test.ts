import { describe, expect, it } from 'vitest';
import { clientKey, createLoginLimiter } from './login-limiter.js';

describe('createLoginLimiter', () => {
  it('allows five wrong tokens in fifteen minutes, then none until the oldest leaves the window', () => {
    let now = 1_000_000;
    const limiter = createLoginLimiter({ now: () => now });
    for (let i = 0; i < 5; i++) {
      expect(limiter.check('198.51.100.7')).toEqual({ allowed: true });
      limiter.fail('198.51.100.7');
      now += 60_000;
    }
    // The first failure was at 1_000_000; it leaves the window at 1_000_000 + 15 min.
    expect(limiter.check('198.51.100.7')).toEqual({ allowed: false, retryAfterSeconds: 600 });
    expect(limiter.check('198.51.100.8')).toEqual({ allowed: true }); // per address
    now = 1_000_000 + 15 * 60_000 + 1;
    expect(limiter.check('198.51.100.7')).toEqual({ allowed: true });
  });

  it('forgives the failures of an address that then gets the token right', () => {
    const limiter = createLoginLimiter();
    for (let i = 0; i < 4; i++) limiter.fail('a');
    limiter.succeed('a');
    for (let i = 0; i < 4; i++) limiter.fail('a');
    expect(limiter.check('a').allowed).toBe(true);
  });

  it('remembers a bounded number of addresses, forgetting the oldest', () => {
    const limiter = createLoginLimiter({ maxAddresses: 3, maxFailures: 1 });
    for (const a of ['a', 'b', 'c', 'd']) limiter.fail(a);
    expect(limiter.check('a').allowed).toBe(true);
    expect(['b', 'c', 'd'].map((a) => limiter.check(a).allowed)).toEqual([false, false, false]);
  });
});

describe('clientKey', () => {
  const env = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });
  it('counts IPv4 (also IPv4-mapped) by address and IPv6 by /64', () => {
    expect(clientKey(env('198.51.100.7'))).toBe('198.51.100.7');
    expect(clientKey(env('::ffff:198.51.100.7'))).toBe('198.51.100.7');
    expect(clientKey(env('2001:db8:1:2:3:4:5:6'))).toBe('2001:db8:1:2::/64');
    expect(clientKey(env('2001:db8:1:2::ffff'))).toBe('2001:db8:1:2::/64');
    expect(clientKey(env('2001:db8::1'))).toBe('2001:db8:0:0::/64');
    expect(clientKey(env('::1'))).toBe('0:0:0:0::/64');
    expect(clientKey(undefined)).toBe('in-process');
  });
});
