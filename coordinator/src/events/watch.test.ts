import { describe, expect, it } from 'vitest';
import { SharedReads } from './shared-reads.js';
import { watchTopics, type EventSink, type Topic } from './watch.js';

/** A topic over a mutable value, counting its reads. */
function fakeTopic(event: string, state: { value: number; broken?: boolean }) {
  const reads = { markers: 0, snapshots: 0 };
  const topic: Topic = {
    event,
    marker: async () => {
      reads.markers++;
      if (state.broken) throw new Error('database down');
      return String(state.value);
    },
    snapshot: async () => {
      reads.snapshots++;
      return { value: state.value };
    },
  };
  return { topic, reads };
}

function recordingSink() {
  const log: string[] = [];
  const sink: EventSink = {
    event: async (name, data) => void log.push(`${name} ${JSON.stringify(data)}`),
    comment: async (text) => void log.push(`: ${text}`),
  };
  return { sink, log };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watchTopics', () => {
  it('sends every topic first, then only what changed', async () => {
    const a = { value: 1 };
    const b = { value: 7 };
    const ta = fakeTopic('a', a);
    const tb = fakeTopic('b', b);
    const { sink, log } = recordingSink();
    const stop = new AbortController();
    const running = watchTopics([ta.topic, tb.topic], sink, { signal: stop.signal, intervalMs: 10, heartbeatMs: 60_000 });
    await tick(50);
    expect(log).toEqual(['a {"value":1}', 'b {"value":7}']);
    a.value = 2;
    await tick(50);
    expect(log).toEqual(['a {"value":1}', 'b {"value":7}', 'a {"value":2}']);
    expect(tb.reads.snapshots).toBe(1);
    stop.abort();
    await running;
  });

  it('stops reading as soon as the client goes away', async () => {
    const t = fakeTopic('a', { value: 1 });
    const { sink } = recordingSink();
    const stop = new AbortController();
    const running = watchTopics([t.topic], sink, { signal: stop.signal, intervalMs: 10 });
    await tick(40);
    stop.abort();
    await running;
    const after = t.reads.markers;
    await tick(60);
    expect(t.reads.markers).toBe(after);
  });

  it('sends a heartbeat comment only while idle', async () => {
    const state = { value: 1 };
    const t = fakeTopic('a', state);
    const { sink, log } = recordingSink();
    const stop = new AbortController();
    const running = watchTopics([t.topic], sink, { signal: stop.signal, intervalMs: 10, heartbeatMs: 80 });
    await tick(130);
    stop.abort();
    await running;
    expect(log[0]).toBe('a {"value":1}');
    expect(log.filter((l) => l === ': heartbeat').length).toBeGreaterThanOrEqual(1);
    expect(log.filter((l) => l === ': heartbeat').length).toBeLessThanOrEqual(2);
  });

  it('says once that the database is unavailable, and resends everything when it is back', async () => {
    const a = { value: 1, broken: false };
    const t = fakeTopic('a', a);
    const { sink, log } = recordingSink();
    const errors: string[] = [];
    const stop = new AbortController();
    const running = watchTopics([t.topic], sink, {
      signal: stop.signal,
      intervalMs: 10,
      onError: (e) => errors.push((e as Error).message),
    });
    await tick(30);
    a.broken = true;
    await tick(50);
    a.broken = false; // back, with the same value as before the outage
    await tick(30);
    stop.abort();
    await running;
    expect(log).toEqual([
      'a {"value":1}',
      'unavailable {"message":"the coordinator cannot read its database now (database down); retrying"}',
      'a {"value":1}',
    ]);
    expect(errors).toEqual(['database down']);
  });
});

describe('SharedReads', () => {
  it('shares a read while it is fresh or in flight, and never keeps a failure', async () => {
    let now = 0;
    const reads = new SharedReads(100, () => now);
    let calls = 0;
    const load = async () => ++calls;
    expect(await Promise.all([reads.read('k', load), reads.read('k', load)])).toEqual([1, 1]);
    now = 99;
    expect(await reads.read('k', load)).toBe(1);
    now = 100;
    expect(await reads.read('k', load)).toBe(2);
    await expect(reads.read('bad', () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(await reads.read('bad', async () => 'ok')).toBe('ok');
  });

  it('forgets keys nobody asks for any more', async () => {
    let now = 0;
    const reads = new SharedReads(100, () => now);
    await reads.read('job:1', async () => 1);
    await reads.read('job:2', async () => 2);
    now = 500;
    await reads.read('jobs', async () => 3);
    expect(reads.size).toBe(1);
  });
});
