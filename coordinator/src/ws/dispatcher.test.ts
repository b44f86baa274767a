import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Assignment, TaskScheduler } from '../scheduler/task-scheduler.js';
import type { WorkerConnection } from './connection.js';
import { dispatchRound } from './dispatcher.js';

const log = pino({ level: 'silent' });

/** A queue of `tasks` tasks; `blocked` workers get nothing until the given time. */
function fakeScheduler(opts: { tasks: number; blocked?: Record<string, number>; notFor?: string[] }) {
  let left = opts.tasks;
  const calls: string[] = [];
  const released: string[] = [];
  const scheduler = {
    hasClaimableWork: async () => {
      calls.push('any?');
      return left > 0;
    },
    assign: async (workerId: string): Promise<Assignment | null> => {
      calls.push(`claim ${workerId}`);
      if (left === 0 || opts.blocked?.[workerId] || opts.notFor?.includes(workerId)) return null;
      left--;
      return { rungs: [{ leaseId: `t${left}`, token: `tok-${workerId}` }] } as unknown as Assignment;
    },
    whyNothingFor: async (workerId: string) => {
      calls.push(`why ${workerId}`);
      const until = opts.blocked?.[workerId];
      return { workLeft: left > 0, blockedUntil: until ? new Date(until) : null };
    },
    releaseUnsent: async (workerId: string, tokens: string[]) => {
      released.push(`${workerId}:${tokens.join(',')}`);
    },
  };
  return { scheduler: scheduler as unknown as TaskScheduler, calls, released };
}

function tab(workerId: string, waitingSince: number, extra: Partial<{ idle: boolean; skipUntil: number; leaveOnAssign: boolean }> = {}) {
  const t = {
    workerId,
    waitingSince,
    skipUntil: extra.skipUntil ?? 0,
    idle: extra.idle ?? true,
    assigned: [] as Assignment[],
    assign(a: Assignment) {
      t.assigned.push(a);
      t.idle = false;
    },
  };
  return t;
}
const asConnections = (tabs: ReturnType<typeof tab>[]) => tabs as unknown as WorkerConnection[];

describe('dispatchRound', () => {
  it('costs one query however many tabs wait when the queue is empty', async () => {
    const { scheduler, calls } = fakeScheduler({ tasks: 0 });
    const tabs = Array.from({ length: 300 }, (_, i) => tab(`w${i}`, i));
    const stats = await dispatchRound(scheduler, asConnections(tabs), log);
    expect(calls).toEqual(['any?']);
    expect(stats).toEqual({ queries: 1, assigned: 0 });
  });

  it('serves the longest-waiting tabs first and stops at the first empty claim once nothing is left', async () => {
    const { scheduler, calls } = fakeScheduler({ tasks: 2 });
    const tabs = [tab('late', 300), tab('first', 100), tab('busy', 0, { idle: false }), tab('second', 200)];
    await dispatchRound(scheduler, asConnections(tabs), log);
    expect(calls).toEqual(['any?', 'claim first', 'claim second', 'claim late', 'why late']);
    expect(tabs.map((t) => [t.workerId, t.assigned.length])).toEqual([
      ['late', 0],
      ['first', 1],
      ['busy', 0],
      ['second', 1],
    ]);
  });

  it('passes a blocked tab over until its block ends, so later rounds cost nothing for it', async () => {
    const now = 1_000_000;
    const { scheduler, calls } = fakeScheduler({ tasks: 1, blocked: { quarantined: now + 30_000 } });
    const tabs = [tab('quarantined', 1), tab('honest', 2)];
    await dispatchRound(scheduler, asConnections(tabs), log, () => now);
    expect(calls).toEqual(['any?', 'claim quarantined', 'why quarantined', 'claim honest']);
    expect(tabs[0]!.skipUntil).toBe(now + 30_000);
    expect(tabs[1]!.assigned).toHaveLength(1);
    calls.length = 0;
    await dispatchRound(scheduler, asConnections(tabs), log, () => now + 1000);
    expect(calls).toEqual([]); // the only idle tab is skipped: not even the "anything?" query
  });

  it('caps a long block at a minute (a quarantine may be lifted early) and retries an unserved tab after 5 s', async () => {
    const now = 1_000_000;
    const { scheduler } = fakeScheduler({ tasks: 1, blocked: { q: now + 3_600_000 } });
    const tabs = [tab('q', 1)];
    await dispatchRound(scheduler, asConnections(tabs), log, () => now);
    expect(tabs[0]!.skipUntil).toBe(now + 60_000);
    // Not blocked, yet nothing for it while work remains (a task it may not take): asked again in 5 s, the others still served.
    const other = fakeScheduler({ tasks: 1, notFor: ['picky'] });
    const more = [tab('picky', 1), tab('next', 2)];
    await dispatchRound(other.scheduler, asConnections(more), log, () => now);
    expect(more[0]!.skipUntil).toBe(now + 5000);
    expect(more[1]!.assigned).toHaveLength(1);
  });

  it('gives a lease claimed for a tab that left meanwhile straight back', async () => {
    const { scheduler, released } = fakeScheduler({ tasks: 1 });
    const leaving = tab('leaving', 1);
    const s = scheduler as unknown as { assign: (w: string) => Promise<Assignment | null> };
    const assign = s.assign;
    s.assign = async (w) => {
      const a = await assign(w);
      leaving.idle = false; // its socket closed while the claim ran
      return a;
    };
    await dispatchRound(scheduler, asConnections([leaving]), log);
    expect(leaving.assigned).toEqual([]);
    expect(released).toEqual(['leaving:tok-leaving']);
  });
});
