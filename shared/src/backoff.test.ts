import { describe, expect, it } from 'vitest';
import { backoffDelay, type BackoffPolicy } from './backoff.js';

const low = () => 0;
const high = () => 0.999999;

describe('backoffDelay', () => {
  it('doubles from initialMs and stops at maxMs without jitter (and never asks for a random number)', () => {
    const policy: BackoffPolicy = { initialMs: 1000, maxMs: 15_000, jitter: 'none' };
    const noRandom = () => {
      throw new Error('random() called');
    };
    expect([0, 1, 2, 3, 4, 5, 20].map((n) => backoffDelay(n, policy, noRandom))).toEqual([1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
  });

  it('counts a negative attempt as the first', () => {
    expect(backoffDelay(-3, { initialMs: 1000, maxMs: 30_000, jitter: 'none' })).toBe(1000);
  });

  it('equal jitter stays within [base/2, base], base capped', () => {
    const policy: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, jitter: 'equal' };
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(30_000, 1000 * 2 ** attempt);
      expect(backoffDelay(attempt, policy, low)).toBe(base / 2);
      expect(backoffDelay(attempt, policy, () => 0.5)).toBe(Math.round(base * 0.75));
      expect(backoffDelay(attempt, policy, high)).toBeLessThanOrEqual(base);
      expect(backoffDelay(attempt, policy, high)).toBeGreaterThan(base * 0.99);
    }
  });

  it('added jitter goes up to the fraction above the base, and the cap holds with it', () => {
    const policy: BackoffPolicy = { initialMs: 2000, maxMs: 20_000, jitter: { addUpTo: 0.25 } };
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(n, policy, low))).toEqual([2000, 4000, 8000, 16_000, 20_000]);
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(n, policy, () => 1))).toEqual([2500, 5000, 10_000, 20_000, 20_000]);
    expect(backoffDelay(3, policy, () => 0.1)).toBe(16_400);
  });

  it('rounds to whole milliseconds', () => {
    expect(backoffDelay(0, { initialMs: 1000, maxMs: 30_000, jitter: 'equal' }, () => 1 / 3)).toBe(667);
    expect(backoffDelay(0, { initialMs: 1000, maxMs: 30_000, jitter: { addUpTo: 0.25 } }, () => 1 / 3)).toBe(1083);
  });
});
