/**
 * Which encoder configuration a worker's segments come from, read from the
 * capabilities it sent in hello, and whether two workers with the same one
 * must produce the same decoded frames (so their results can be compared by
 * frame hash: replication, scheduler/replication.ts).
 *
 * Deterministic today: only ffmpeg.wasm's single-thread core (x264 built
 * without asm, one thread), which gives byte-identical output run to run
 * (docs/facts.md, "ffmpeg.wasm"). Not (yet) treated as deterministic:
 *   - the multi-thread core: x264 with N threads is repeatable for the same N
 *     by design, but it was never measured in the wasm build;
 *   - native x264: its SIMD paths differ by CPU and do not match the wasm
 *     build frame for frame (docs/facts.md);
 *   - WebCodecs: output varies with the core count and the Chromium version.
 * Those are checked by content only.
 *
 * The capabilities are the worker's word: a liar may claim any
 * configuration. Claiming a non-deterministic one only buys it the content
 * check alone; claiming the deterministic one gets it replicated.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type Capabilities, type TaskEncoder, WORKER_KINDS_FOR } from '@tabgrid/shared';
import { constantList } from '../db/sql-literals.js';

/** The one deterministic configuration: wasm x264, single-thread core, 1 thread. */
export const WASM_X264_SINGLE_THREAD = 'wasm-x264/st/t1';

/**
 * The deterministic encoder configuration a worker's result of a task
 * pinned to `taskEncoder` comes from, or null when it can only be checked by
 * content. A WebCodecs task's result never has one, whatever the worker runs
 * besides: OpenH264 slices each frame per core and its output varies run to
 * run even on one machine (docs/facts.md, "WebCodecs"), so its hashes are
 * never compared.
 */
export function deterministicConfig(
  capabilities: Pick<Capabilities, 'encoders' | 'threads' | 'wasmMultiThread'> | null,
  taskEncoder: TaskEncoder = 'x264',
): string | null {
  if (!capabilities || taskEncoder !== 'x264') return null;
  // The tab encodes with the first encoder it lists (its preference).
  const deterministic = capabilities.encoders[0] === 'wasm-x264' && !capabilities.wasmMultiThread && capabilities.threads === 1;
  return deterministic ? WASM_X264_SINGLE_THREAD : null;
}

/**
 * The same as SQL over a `capabilities` jsonb column (for claims and the
 * replica sweep); db/state-machines-style agreement with deterministicConfig
 * is tested in replication.int.test.ts.
 */
export function deterministicConfigSql(capabilities: SQL): SQL {
  return sql`(CASE WHEN ${capabilities}->'encoders'->>0 = 'wasm-x264'
                    AND ${capabilities}->>'wasmMultiThread' = 'false'
                    AND ${capabilities}->>'threads' = '1'
               THEN ${WASM_X264_SINGLE_THREAD}::text END)`;
}

/** The task encoders (shared/src/encoder-choice.ts) a worker with these capabilities may be given. */
export function taskEncodersOf(capabilities: Pick<Capabilities, 'encoders'>): TaskEncoder[] {
  return (Object.keys(WORKER_KINDS_FOR) as TaskEncoder[]).filter((e) => capabilities.encoders.some((k) => WORKER_KINDS_FOR[e].includes(k)));
}

/**
 * SQL for claimTasks: the worker `workerId` may be given task `taskAlias`
 * by its encoder. A WebCodecs task only to a worker whose hello listed
 * webcodecs-h264 (a tab lists it only after probing VideoEncoder); an x264
 * task to any worker but one whose hello listed no x264 kind (every tab runs
 * wasm x264; a claimer with no row, as in the lease tests, counts as one).
 * Agrees with taskEncodersOf (tested in leases.int.test.ts).
 */
export function runsTaskEncoder(taskAlias: string, workerId: string): SQL {
  if (!/^[a-z_]+$/.test(taskAlias)) throw new Error(`not an alias: ${taskAlias}`);
  const t = sql.raw(taskAlias);
  const kinds = (e: TaskEncoder) => sql`(me.capabilities->'encoders' ?| array[${constantList(WORKER_KINDS_FOR[e])}])`;
  return sql`(CASE ${t}.encoder
      WHEN 'webcodecs' THEN EXISTS (SELECT 1 FROM workers me WHERE me.id = ${workerId} AND ${kinds('webcodecs')})
      ELSE NOT EXISTS (SELECT 1 FROM workers me WHERE me.id = ${workerId} AND NOT ${kinds('x264')})
    END)`;
}
