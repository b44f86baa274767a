import { describe, expect, it } from 'vitest';
import { tabWorkerId, type TabWorkerId } from './worker-id.js';

function memoryStorage(init: Record<string, string> = {}) {
  const m = new Map(Object.entries(init));
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), map: m };
}

describe('tabWorkerId', () => {
  it('creates an id and keeps it in storage; a reload (same storage, no live holder) gets it back', async () => {
    const storage = memoryStorage();
    const first = await tabWorkerId({ storage, waitMs: 20 });
    expect(first.workerId).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    first.close();
    const reloaded = await tabWorkerId({ storage, waitMs: 20 });
    reloaded.close();
    expect(reloaded.workerId).toBe(first.workerId);
  });

  it('takes a fresh id when a live tab already holds the stored one (a duplicated tab)', async () => {
    const original = await tabWorkerId({ storage: memoryStorage(), waitMs: 20 });
    const copied = memoryStorage({ 'tabgrid.workerId': original.workerId });
    let duplicate: TabWorkerId | undefined;
    try {
      duplicate = await tabWorkerId({ storage: copied, waitMs: 200 });
      expect(duplicate.workerId).not.toBe(original.workerId);
      expect(copied.map.get('tabgrid.workerId')).toBe(duplicate.workerId);
    } finally {
      original.close();
      duplicate?.close();
    }
  });

  it('works without storage', async () => {
    const t = await tabWorkerId({ storage: null, waitMs: 20 });
    t.close();
    expect(t.workerId).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
  });
});
