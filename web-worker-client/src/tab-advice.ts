/**
 * tabAdvice({ cores, threadsPerTab, memoryGb? }) → how many tabs of the
 * contributor page this computer should open, and the sentence that says so.
 * Pure, so it is tested without a browser.
 *
 * Why one tab per core: the single-thread wasm encoder keeps one core busy
 * per tab, and the multi-thread core hangs in Chromium often enough that
 * throughput comes from more single-thread tabs, not more threads per tab
 * (docs/facts.md, "ffmpeg.wasm"). Above 2 cores one core is left for the
 * person at the computer (and for the browser itself). Memory bounds it too:
 * a tab encoding a 1080p chunk into three rungs held ~MEMORY_PER_TAB_GB.
 */

/** Resident memory of one contributor tab encoding a 1080p chunk into 720p/480p/360p in one exec (docs/facts.md). */
export const MEMORY_PER_TAB_GB = 0.8;

export interface TabAdvice {
  readonly tabs: number;
  readonly text: string;
}

export function tabAdvice(opts: { cores: number; threadsPerTab: number; memoryGb?: number }): TabAdvice {
  const cores = Number.isInteger(opts.cores) && opts.cores > 0 ? opts.cores : 1;
  const perTab = Math.max(1, Math.floor(opts.threadsPerTab));
  const spare = cores > 2 ? 1 : 0;
  const byCpu = Math.max(1, Math.floor((cores - spare) / perTab));
  const byMemory =
    opts.memoryGb && opts.memoryGb > 0 ? Math.max(1, Math.floor(opts.memoryGb / MEMORY_PER_TAB_GB)) : Number.POSITIVE_INFINITY;
  const tabs = Math.min(byCpu, byMemory);
  const memory = opts.memoryGb ? ` and at least ${opts.memoryGb} GB of memory` : '';
  const each = perTab === 1 ? 'one core' : `${perTab} cores`;
  const why =
    byMemory < byCpu
      ? `memory is the limit: each tab holds about ${MEMORY_PER_TAB_GB} GB`
      : `each tab keeps ${each} busy${spare ? ', and one core is left for you' : ''}`;
  const count = tabs === 1 ? 'one tab' : `${tabs} tabs`;
  return {
    tabs,
    text: `This computer reports ${cores} CPU thread${cores === 1 ? '' : 's'}${memory}: open ${count} of this page (${why}). More tabs than that finish nothing sooner.`,
  };
}
