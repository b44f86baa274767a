import { describe, expect, it } from 'vitest';
import { createLocalNotifier, type WakeEvent, Waker } from './notifier.js';
import { packPayloads } from './pg-notifier.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the in-process notifier', () => {
  it('delivers each event to the subscribers of its kind, and resync to everyone', () => {
    const n = createLocalNotifier();
    const work: WakeEvent[] = [];
    const jobs: WakeEvent[] = [];
    n.subscribe(['work'], (e) => work.push(e));
    const off = n.subscribe(['job', 'revoke'], (e) => jobs.push(e));
    n.publish({ kind: 'work' });
    n.publish({ kind: 'job', jobId: 'j1' });
    n.publish({ kind: 'workers' });
    n.publish({ kind: 'resync' });
    off();
    n.publish({ kind: 'job', jobId: 'j2' });
    expect(work).toEqual([{ kind: 'work' }, { kind: 'resync' }]);
    expect(jobs).toEqual([{ kind: 'job', jobId: 'j1' }, { kind: 'resync' }]);
  });

  it('keeps delivering when a subscriber throws', () => {
    const n = createLocalNotifier();
    const seen: string[] = [];
    n.subscribe(['work'], () => {
      throw new Error('bug');
    });
    n.subscribe(['work'], () => seen.push('second'));
    n.publish({ kind: 'work' });
    expect(seen).toEqual(['second']);
  });
});

describe('Waker', () => {
  it('wakes a waiting loop at once, and times out when nothing happens', async () => {
    const n = createLocalNotifier();
    const w = new Waker(n, ['work']);
    const started = Date.now();
    const waiting = w.wait(10_000);
    n.publish({ kind: 'work' });
    expect(await waiting).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await w.wait(20)).toBe(false);
    w.close();
  });

  it('does not lose an event that arrives while the loop is busy, and folds many into one wake', async () => {
    const n = createLocalNotifier();
    const w = new Waker(n, ['job']);
    for (let i = 0; i < 100; i++) n.publish({ kind: 'job', jobId: `j${i}` });
    expect(await w.wait(10_000)).toBe(true);
    expect(await w.wait(20)).toBe(false);
    w.close();
  });

  it('wakes only for its kinds and filter, and for resync', async () => {
    const n = createLocalNotifier();
    const w = new Waker(n, ['job'], (e) => e.kind === 'job' && e.jobId === 'mine');
    n.publish({ kind: 'work' });
    n.publish({ kind: 'job', jobId: 'other' });
    expect(await w.wait(20)).toBe(false);
    n.publish({ kind: 'job', jobId: 'mine' });
    expect(await w.wait(20)).toBe(true);
    n.publish({ kind: 'resync' });
    expect(await w.wait(20)).toBe(true);
    w.close();
  });

  it('is poked by its own process, returns when the signal aborts, and stops listening once closed', async () => {
    const n = createLocalNotifier();
    const w = new Waker(n, ['work']);
    w.poke();
    expect(await w.wait(10_000)).toBe(true);
    const abort = new AbortController();
    const waiting = w.wait(10_000, abort.signal);
    await tick(5);
    abort.abort();
    expect(await waiting).toBe(false);
    w.close();
    n.publish({ kind: 'work' });
    expect(await w.wait(20)).toBe(false);
  });
});

describe('packPayloads (what goes into one NOTIFY)', () => {
  it('drops duplicates within a batch, keeping first-seen order', () => {
    const payloads = packPayloads('me', [
      { kind: 'job', jobId: 'a' },
      { kind: 'progress' },
      { kind: 'job', jobId: 'a' },
      { kind: 'progress' },
      { kind: 'job', jobId: 'b' },
    ]);
    expect(payloads.map((p) => JSON.parse(p))).toEqual([
      { o: 'me', e: [{ kind: 'job', jobId: 'a' }, { kind: 'progress' }, { kind: 'job', jobId: 'b' }] },
    ]);
  });

  it('keeps every payload under PostgreSQL’s 8000-byte limit, splitting long revocations', () => {
    const leaseIds = Array.from({ length: 1000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const jobs = Array.from({ length: 500 }, (_, i) => ({ kind: 'job' as const, jobId: `job-${i}` }));
    const payloads = packPayloads('me', [{ kind: 'revoke', leaseIds, reason: 'the job was canceled' }, ...jobs]);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(8000);
    const events = payloads.flatMap((p) => (JSON.parse(p) as { e: WakeEvent[] }).e);
    expect(events.filter((e) => e.kind === 'revoke').flatMap((e) => (e.kind === 'revoke' ? e.leaseIds : []))).toEqual(leaseIds);
    expect(events.filter((e) => e.kind === 'job')).toHaveLength(500);
  });
});
