import { describe, expect, it } from 'vitest';
import { defaultThreads } from './worker.js';

describe('defaultThreads', () => {
  it('shares the cores out between the workers, at least one thread each', () => {
    expect(defaultThreads(1, 8)).toBe(8);
    expect(defaultThreads(2, 8)).toBe(4);
    expect(defaultThreads(3, 8)).toBe(2);
    expect(defaultThreads(16, 8)).toBe(1);
  });
});
