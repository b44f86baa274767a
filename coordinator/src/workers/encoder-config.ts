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
import type { Capabilities } from '@tabgrid/shared';

/** The one deterministic configuration: wasm x264, single-thread core, 1 thread. */
export const WASM_X264_SINGLE_THREAD = 'wasm-x264/st/t1';

/** The deterministic encoder configuration of a worker, or null when its results can only be checked by content. */
export function deterministicConfig(capabilities: Pick<Capabilities, 'encoders' | 'threads' | 'wasmMultiThread'> | null): string | null {
  if (!capabilities) return null;
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
