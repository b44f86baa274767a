import { describe, expect, it } from 'vitest';
import { tabIdentity, type TabIdentity } from './worker-id.js';

function memoryStorage(init: Record<string, string> = {}) {
  const m = new Map(Object.entries(init));
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    map: m,
  };
}
const issued = { workerId: 'wAbCdEfGh1234567', credential: 'wAbCdEfGh1234567.signature' };

describe('tabIdentity', () => {
  it('starts with no identity: the tab never makes one up, the first welcome brings it', async () => {
    const storage = memoryStorage();
    const id = await tabIdentity({ storage, waitMs: 20 });
    id.close();
    expect(id.credential()).toBeNull();
    expect(id.workerId()).toBeNull();
    expect(storage.map.size).toBe(0);
  });

  it('keeps what the welcome issued; a reload (same storage, no live holder) presents it again', async () => {
    const storage = memoryStorage();
    const first = await tabIdentity({ storage, waitMs: 20 });
    first.remember(issued);
    first.close();
    const reloaded = await tabIdentity({ storage, waitMs: 20 });
    reloaded.close();
    expect(reloaded.credential()).toBe(issued.credential);
    expect(reloaded.workerId()).toBe(issued.workerId);
  });

  it('starts without the stored identity when a live tab already holds it (a duplicated tab), and never posts the credential', async () => {
    const original = await tabIdentity({ storage: memoryStorage(), waitMs: 20 });
    original.remember(issued);
    const posted: unknown[] = [];
    const spy = new BroadcastChannel('tabgrid.workerId');
    spy.onmessage = (ev: MessageEvent) => posted.push(ev.data);
    const copied = memoryStorage({ 'tabgrid.worker': JSON.stringify(issued) });
    let duplicate: TabIdentity | undefined;
    try {
      duplicate = await tabIdentity({ storage: copied, waitMs: 200 });
      expect(duplicate.credential()).toBeNull();
      expect(copied.map.has('tabgrid.worker')).toBe(false);
      duplicate.remember({ workerId: 'wOtherTab0000001', credential: 'wOtherTab0000001.sig' });
      expect(original.credential()).toBe(issued.credential);
      expect(posted.length).toBeGreaterThan(0);
      expect(JSON.stringify(posted)).not.toContain('signature');
    } finally {
      original.close();
      duplicate?.close();
      spy.close();
    }
  });

  it('ignores damaged or foreign storage and the id protocol 1 pages chose themselves', async () => {
    for (const stored of [
      'not json',
      JSON.stringify({ workerId: '../../x', credential: 'c' }),
      JSON.stringify({ workerId: 'wGoodId00000001' }),
    ]) {
      const storage = memoryStorage({ 'tabgrid.worker': stored, 'tabgrid.workerId': 'chosen-by-the-tab' });
      const id = await tabIdentity({ storage, waitMs: 20 });
      id.close();
      expect(id.credential()).toBeNull();
      expect(storage.map.has('tabgrid.workerId')).toBe(false);
    }
  });

  it('works without storage', async () => {
    const t = await tabIdentity({ storage: null, waitMs: 20 });
    t.remember(issued);
    t.close();
    expect(t.credential()).toBe(issued.credential);
  });
});
