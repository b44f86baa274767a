/**
 * Model-based test of the lease table: fast-check drives random sequences of
 * lease operations through the public functions of `./index.js`, against the
 * real SQL on the real PostgreSQL, and after every step compares the
 * database with an in-memory model and checks invariants that hold whatever
 * the model says. Some steps run two operations on one lease at once, on two
 * connections; the outcome must then be that of one of the two serial orders.
 * After every step the newest stale token of each task is tried with every
 * token-checked operation and must be refused. Every run ends with a drain:
 * a well-behaved worker takes whatever is left until nothing is claimable,
 * and then every task must be done or dead.
 *
 * Worker rows (connected, quarantined), expiry and backoff are set with plain
 * SQL, as the WebSocket gateway, the scheduler and the passing of time would;
 * everything else goes through the lease functions.
 *
 * On failure fast-check prints the seed, the path and the shrunk command list,
 * and the error carries a trace of what each step did and what the model
 * expected. Replay with LEASE_MODEL_SEED=… LEASE_MODEL_PATH=…; run longer
 * with LEASE_MODEL_RUNS=….
 *
 * The model is in ./lease-model/: model.ts (the in-memory model), lease-ops.ts
 * and world-ops.ts (each operation against the SQL, with what the model
 * expects), commands.ts (the random commands) and invariants.ts (the checks
 * after every step, the drain).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, it } from 'vitest';
import { commandArb, step } from './lease-model/commands.js';
import { closeModelDatabase, openModelDatabase } from './lease-model/database.js';
import { checkAllTokensStale, checkInvariants, drain } from './lease-model/invariants.js';
import { seedWorld } from './lease-model/model.js';

beforeAll(openModelDatabase);
afterAll(closeModelDatabase);

const runs = Number(process.env.LEASE_MODEL_RUNS ?? 50);
/** ~10 s for 50 runs on 2 cores; the rest of the budget is for shrinking a failure. */
const timeLimitMs = Math.max(60_000, runs * 1000);

it(
  'random lease operations keep every invariant, and a drain leaves every task done or dead',
  async () => {
    const seed = process.env.LEASE_MODEL_SEED;
    const path = process.env.LEASE_MODEL_PATH;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 5 }),
        fc.array(commandArb, { maxLength: 40, size: 'max' }),
        async (taskCount, commands) => {
          const w = await seedWorld(taskCount);
          try {
            for (const [i, cmd] of commands.entries()) {
              w.trace.push(`#${i} ${JSON.stringify(cmd)}`);
              await step(w, cmd);
              await checkInvariants(w);
            }
            await drain(w);
            await checkAllTokensStale(w);
          } catch (err) {
            throw new Error(
              `${(err as Error).message}\n--- trace (what each step did; "model:" is what it expected) ---\n${w.trace.join('\n')}`,
              { cause: err },
            );
          }
        },
      ),
      {
        numRuns: runs,
        ...(seed ? { seed: Number(seed) } : {}),
        ...(path ? { path } : {}),
        // Shrinking reruns whole sequences against the database; stop it in
        // time for the report (seed, path, smallest sequence so far) to print
        // before the test times out.
        plugins: [fc.interruptAfterTimeLimit(timeLimitMs)],
      },
    );
  },
  timeLimitMs + 30_000,
);
