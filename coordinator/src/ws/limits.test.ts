import { describe, expect, it } from 'vitest';
import { AddressLimits, BoundedQueue, TokenBucket } from './limits.js';

describe('TokenBucket', () => {
  it('allows a burst, then the refill rate', () => {
    let now = 0;
    const b = new TokenBucket(3, 2, () => now);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    now = 499;
    expect(b.take()).toBe(false);
    now = 500;
    expect(b.take()).toBe(true);
    now = 100_000;
    expect(b.full).toBe(true);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });
});

describe('AddressLimits', () => {
  it('caps open sockets per address and frees a slot once (release is idempotent)', () => {
    let now = 0;
    const limits = new AddressLimits({ maxOpen: 2, perMinute: 1000, now: () => now });
    const a = limits.admit('a');
    const b = limits.admit('a');
    expect(a.ok && b.ok).toBe(true);
    const c = limits.admit('a');
    expect(c).toMatchObject({ ok: false, reason: expect.stringMatching(/too many connections from this address \(at most 2/) });
    expect(limits.admit('b').ok).toBe(true); // another address still gets in
    if (a.ok) {
      a.release();
      a.release();
    }
    expect(limits.openFrom('a')).toBe(1);
    now = 1000; // the burst is spent; a second refills it
    expect(limits.admit('a').ok).toBe(true);
    expect(limits.admit('a').ok).toBe(false);
  });

  it('caps new sockets per address per minute after a burst, and forgets quiet addresses', () => {
    let now = 0;
    const limits = new AddressLimits({ maxOpen: 3, perMinute: 60, now: () => now });
    for (let i = 0; i < 3; i++) {
      const s = limits.admit('a');
      if (s.ok) s.release();
    }
    expect(limits.admit('a')).toMatchObject({ ok: false, reason: expect.stringMatching(/at most 60 per minute/) });
    now = 1000;
    const again = limits.admit('a');
    expect(again.ok).toBe(true);
    if (again.ok) again.release();
    limits.sweep();
    expect(limits.size).toBe(1); // its bucket is not full yet
    now = 10_000;
    limits.sweep();
    expect(limits.size).toBe(0);
  });
});

describe('BoundedQueue', () => {
  it('runs at most `concurrency` at once, in arrival order, and refuses beyond `maxPending` waiting', async () => {
    const q = new BoundedQueue(2, 2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const gates: (() => void)[] = [];
    const task = (n: number) => () =>
      new Promise<number>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        order.push(n);
        gates.push(() => {
          running--;
          resolve(n);
        });
      });
    const results = [1, 2, 3, 4].map((n) => q.run(task(n)));
    expect(await q.run(task(5))).toEqual({ ok: false });
    expect(q.pending).toBe(2);
    while (gates.length > 0 || order.length < 4) {
      await new Promise((r) => setTimeout(r, 1));
      gates.shift()?.();
    }
    expect(await Promise.all(results)).toEqual([1, 2, 3, 4].map((value) => ({ ok: true, value })));
    expect(order).toEqual([1, 2, 3, 4]);
    expect(peak).toBe(2);
  });

  it('frees the slot when a task throws', async () => {
    const q = new BoundedQueue(1, 0);
    await expect(q.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await q.run(() => Promise.resolve(7))).toEqual({ ok: true, value: 7 });
  });
});
