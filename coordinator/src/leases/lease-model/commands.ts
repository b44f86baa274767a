/** The random commands fast-check generates, and how each one runs. */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { db } from './database.js';
import { acceptOp, beginOp, failOp, heartbeatOp, reapOp, releaseOp, runOp, undoOp, type LeaseOp } from './lease-ops.js';
import { currentLease, isCurrent, isHeld, task, WORKERS, type HeldLease, type World } from './model.js';
import { advanceBackoff, claim, disconnect, expireAndReap, expireInDb, hello, raceClaims, raceOnLease, restart } from './world-ops.js';

/**
 * Which lease a command uses: a current one; a zombie's (stale, its task
 * since leased to someone else or finished); any one ever issued (mostly
 * stale); or a made-up token.
 */
interface TokenPick {
  readonly from: 'current' | 'zombie' | 'any' | 'random';
  readonly n: number;
}

const RACE_OPS = ['heartbeat', 'begin', 'undo', 'accept', 'fail', 'reap', 'release'] as const;
type RaceOp = (typeof RACE_OPS)[number];

export type Command =
  | { readonly kind: 'claim'; readonly worker: number; readonly limit: number }
  | { readonly kind: 'heartbeat'; readonly pick: TokenPick }
  | { readonly kind: 'begin'; readonly pick: TokenPick }
  | { readonly kind: 'undo'; readonly pick: TokenPick }
  | { readonly kind: 'accept'; readonly pick: TokenPick }
  | { readonly kind: 'complete'; readonly pick: TokenPick; readonly duplicate: boolean }
  | { readonly kind: 'reject'; readonly pick: TokenPick }
  | { readonly kind: 'fail'; readonly pick: TokenPick }
  | { readonly kind: 'expire'; readonly n: number | null }
  | { readonly kind: 'disconnect'; readonly worker: number; readonly onlyIfDisconnected: boolean; readonly backElsewhere: boolean }
  | { readonly kind: 'hello'; readonly worker: number; readonly resume: boolean }
  | { readonly kind: 'quarantine'; readonly worker: number; readonly on: boolean }
  | { readonly kind: 'restart' }
  | { readonly kind: 'advanceBackoff' }
  | { readonly kind: 'raceClaims'; readonly workers: readonly [number, number]; readonly limits: readonly [number, number] }
  | {
      readonly kind: 'race';
      readonly ops: readonly [RaceOp, RaceOp];
      readonly verifyFirst: boolean;
      readonly expireFirst: boolean;
      readonly n: number;
    };

const workerArb = fc.nat(WORKERS.length - 1);
const limitArb = fc.integer({ min: 1, max: 3 });
const pickArb: fc.Arbitrary<TokenPick> = fc.record({
  from: fc.constantFrom('current', 'current', 'current', 'zombie', 'zombie', 'any', 'random'),
  n: fc.nat(1000),
});
const raceOpArb = fc.constantFrom(...RACE_OPS);

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('claim'), worker: workerArb, limit: limitArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('heartbeat'), pick: pickArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('begin'), pick: pickArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('undo'), pick: pickArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('accept'), pick: pickArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('complete'), pick: pickArb, duplicate: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('reject'), pick: pickArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('fail'), pick: pickArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('expire'), n: fc.option(fc.nat(1000), { freq: 5 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('disconnect'),
      worker: fc.nat(1000),
      onlyIfDisconnected: fc.boolean(),
      backElsewhere: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('hello'), worker: fc.nat(1000), resume: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('quarantine'), worker: workerArb, on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart') }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advanceBackoff') }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('raceClaims'),
      workers: fc.tuple(workerArb, workerArb),
      limits: fc.tuple(limitArb, limitArb),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('race'),
      ops: fc.tuple(raceOpArb, raceOpArb),
      verifyFirst: fc.boolean(),
      expireFirst: fc.boolean(),
      n: fc.nat(1000),
    }),
  },
);

function resolvePick(w: World, pick: TokenPick): HeldLease {
  const current = w.issued.filter((l) => isCurrent(task(w, l.taskId), l));
  if (pick.from === 'current' && current.length > 0) return current[pick.n % current.length]!;
  const zombies = w.issued.filter((l) => {
    const t = task(w, l.taskId);
    return !isCurrent(t, l) && (isHeld(t) || t.state === 'done');
  });
  if (pick.from === 'zombie' && zombies.length > 0) return zombies[pick.n % zombies.length]!;
  if (pick.from !== 'random' && w.issued.length > 0) return w.issued[pick.n % w.issued.length]!;
  const t = w.tasks[pick.n % w.tasks.length]!;
  return { taskId: t.id, token: randomUUID(), attempt: Math.max(1, t.attempts), worker: WORKERS[pick.n % WORKERS.length]! };
}

/** Mostly a worker that holds something, so that disconnects and reloads have leases to act on. */
function pickWorker(w: World, n: number): string {
  const holders = WORKERS.filter((id) => w.tasks.some((t) => isHeld(t) && t.owner === id));
  return holders.length > 0 && n % 4 !== 0 ? holders[n % holders.length]! : WORKERS[n % WORKERS.length]!;
}

function raceOp(w: World, kind: RaceOp, index: number): LeaseOp {
  const ops: Record<RaceOp, LeaseOp> = {
    heartbeat: heartbeatOp,
    begin: beginOp,
    undo: undoOp,
    // Two racing completions carry different segments, so the one accepted is visible.
    accept: acceptOp(w, index === 0 ? '' : '.racing') as LeaseOp,
    fail: failOp('failed') as LeaseOp,
    reap: reapOp as LeaseOp,
    release: releaseOp as LeaseOp,
  };
  return ops[kind];
}

export async function step(w: World, cmd: Command): Promise<void> {
  switch (cmd.kind) {
    case 'claim':
      await claim(w, WORKERS[cmd.worker]!, cmd.limit);
      return;
    case 'heartbeat':
      await runOp(w, heartbeatOp, resolvePick(w, cmd.pick));
      return;
    case 'begin':
      await runOp(w, beginOp, resolvePick(w, cmd.pick));
      return;
    case 'undo':
      await runOp(w, undoOp, resolvePick(w, cmd.pick));
      return;
    case 'accept':
      await runOp(w, acceptOp(w), resolvePick(w, cmd.pick));
      return;
    case 'complete': {
      const l = resolvePick(w, cmd.pick);
      if (await runOp(w, beginOp, l)) await runOp(w, acceptOp(w), l);
      if (cmd.duplicate) {
        // A replayed completion after the first was decided: refused whatever happened above.
        await runOp(w, beginOp, l);
        await runOp(w, acceptOp(w, '.dup'), l);
      }
      return;
    }
    case 'reject': {
      const l = resolvePick(w, cmd.pick);
      await runOp(w, beginOp, l);
      await runOp(w, failOp('rejected'), l);
      return;
    }
    case 'fail':
      await runOp(w, failOp('failed'), resolvePick(w, cmd.pick));
      return;
    case 'expire': {
      const held = w.tasks.filter(isHeld);
      await expireAndReap(w, cmd.n === null || held.length === 0 ? undefined : held[cmd.n % held.length]);
      return;
    }
    case 'disconnect':
      await disconnect(w, pickWorker(w, cmd.worker), cmd.onlyIfDisconnected, cmd.backElsewhere);
      return;
    case 'hello':
      await hello(w, pickWorker(w, cmd.worker), cmd.resume);
      return;
    case 'quarantine': {
      const worker = WORKERS[cmd.worker]!;
      await db().execute(
        sql`UPDATE workers SET quarantined_until = ${cmd.on ? sql`now() + interval '1 hour'` : sql`NULL`} WHERE id = ${worker}`,
      );
      w.quarantined.set(worker, cmd.on);
      return;
    }
    case 'restart':
      await restart(w);
      return;
    case 'advanceBackoff':
      await advanceBackoff(w);
      return;
    case 'raceClaims':
      await raceClaims(w, [WORKERS[cmd.workers[0]]!, WORKERS[cmd.workers[1]]!], cmd.limits);
      return;
    case 'race': {
      // Leftovers of an earlier race are reaped first, so the reaper in this one sees only its target.
      if (w.tasks.some((t) => isHeld(t) && t.expired)) await expireAndReap(w, undefined);
      const held = w.tasks.filter(isHeld);
      const t = held[cmd.n % Math.max(1, held.length)];
      if (!t) return;
      const l = currentLease(w, t)!;
      if (cmd.verifyFirst && t.state === 'leased') await runOp(w, beginOp, l);
      if (cmd.expireFirst || cmd.ops.includes('reap')) await expireInDb(w, t);
      await raceOnLease(w, [raceOp(w, cmd.ops[0], 0), raceOp(w, cmd.ops[1], 1)], t, l);
      return;
    }
  }
}
