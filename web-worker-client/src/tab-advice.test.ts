import { describe, expect, it } from 'vitest';
import { MEMORY_PER_TAB_GB, tabAdvice } from './tab-advice.js';

describe('tabAdvice', () => {
  it('one single-thread tab per core, keeping one core free above two', () => {
    expect(tabAdvice({ cores: 1, threadsPerTab: 1 }).tabs).toBe(1);
    expect(tabAdvice({ cores: 2, threadsPerTab: 1 }).tabs).toBe(2);
    expect(tabAdvice({ cores: 8, threadsPerTab: 1 }).tabs).toBe(7);
    expect(tabAdvice({ cores: 8, threadsPerTab: 1 }).text).toBe(
      'This computer reports 8 CPU threads: open 7 tabs of this page (each tab keeps one core busy, and one core is left for you). More tabs than that finish nothing sooner.',
    );
  });

  it('divides the cores by the encoder threads of a multi-thread tab', () => {
    expect(tabAdvice({ cores: 8, threadsPerTab: 2 }).tabs).toBe(3);
    expect(tabAdvice({ cores: 2, threadsPerTab: 4 }).tabs).toBe(1);
  });

  it('lets memory bound it when the browser reports it', () => {
    const advice = tabAdvice({ cores: 16, threadsPerTab: 1, memoryGb: 4 });
    expect(advice.tabs).toBe(Math.floor(4 / MEMORY_PER_TAB_GB));
    expect(advice.text).toMatch(/memory is the limit/);
    expect(tabAdvice({ cores: 4, threadsPerTab: 1, memoryGb: 8 }).tabs).toBe(3);
  });

  it('never advises fewer than one tab, whatever the browser reports', () => {
    expect(tabAdvice({ cores: 0, threadsPerTab: 1 }).tabs).toBe(1);
    expect(tabAdvice({ cores: Number.NaN, threadsPerTab: 0 }).tabs).toBe(1);
    expect(tabAdvice({ cores: 4, threadsPerTab: 1, memoryGb: 0.25 }).tabs).toBe(1);
  });
});
