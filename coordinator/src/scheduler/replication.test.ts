import { describe, expect, it } from 'vitest';
import type { ResultRow } from '../tasks/task-results.js';
import { WASM_X264_SINGLE_THREAD } from '../workers/encoder-config.js';
import { decideReplication, firstDifferingFrame, independent, MAX_CANDIDATES, type Submission } from './replication.js';

const K = WASM_X264_SINGLE_THREAD;
const mine: Submission = { workerId: 'me', address: '10.0.0.1', config: K, framesSha256: 'good' };

function candidate(attempt: number, over: Partial<ResultRow> = {}): ResultRow {
  return {
    task_id: 't',
    attempt,
    worker_id: `w${attempt}`,
    address: `10.0.1.${attempt}`,
    encoder_config: K,
    segment_key: `k${attempt}`,
    segment_size: 100,
    segment_sha256: 's',
    frames_sha256: 'good',
    frame_hashes: ['a', 'b'],
    verdict: 'pending',
    confirmed_results: 0,
    ...over,
  };
}

const base = { candidates: [] as ResultRow[], confirmedResults: 0, trustAfter: 10, sampled: false, sameAddressOk: false };

describe('decideReplication', () => {
  it('checks a non-deterministic encoder by content only, whatever else holds', () => {
    const d = decideReplication({ ...base, result: { ...mine, config: null }, candidates: [candidate(1)] });
    expect(d).toEqual({ kind: 'accept', why: 'non-deterministic encoder: checked by content only' });
  });

  it('wants a replica for a new worker, samples a trusted one, and takes an unsampled trusted one at its word', () => {
    expect(decideReplication({ ...base, result: mine, confirmedResults: 9 })).toEqual({
      kind: 'want-replica',
      config: K,
      why: 'new worker (9 of 10 results confirmed)',
    });
    expect(decideReplication({ ...base, result: mine, confirmedResults: 10, sampled: true })).toMatchObject({ kind: 'want-replica' });
    expect(decideReplication({ ...base, result: mine, confirmedResults: 10 })).toEqual({
      kind: 'accept',
      why: 'trusted worker, not sampled',
    });
  });

  it('confirms with an independent agreeing replica and outvotes every result of the same configuration that disagrees', () => {
    const agreeing = candidate(1);
    const liar = candidate(2, { frames_sha256: 'bad' });
    const webcodecs = candidate(3, { encoder_config: null, frames_sha256: 'other' });
    const d = decideReplication({ ...base, result: mine, candidates: [agreeing, liar, webcodecs] });
    expect(d).toEqual({ kind: 'confirm', agreeing: [agreeing], outvoted: [liar] });
  });

  it('does not count agreement from the same worker or the same address as a confirmation', () => {
    for (const twin of [candidate(1, { worker_id: 'me' }), candidate(1, { address: '10.0.0.1' }), candidate(1, { address: null })]) {
      expect(decideReplication({ ...base, result: mine, candidates: [twin] }).kind).toBe('tie-break');
    }
    expect(
      decideReplication({ ...base, result: mine, candidates: [candidate(1, { address: '10.0.0.1' })], sameAddressOk: true }).kind,
    ).toBe('confirm');
  });

  it('asks for a tie-breaker on disagreement, and settles without a quorum at MAX_CANDIDATES, by trust', () => {
    const a = candidate(1, { frames_sha256: 'x' });
    expect(decideReplication({ ...base, result: mine, candidates: [a] })).toMatchObject({ kind: 'tie-break', config: K });
    const many = Array.from({ length: MAX_CANDIDATES - 1 }, (_, i) => candidate(i + 1, { frames_sha256: `x${i}`, confirmed_results: i }));
    expect(decideReplication({ ...base, result: mine, candidates: many, confirmedResults: 0 })).toMatchObject({
      kind: 'no-quorum',
      chosen: many.at(-1),
    });
    expect(decideReplication({ ...base, result: mine, candidates: many, confirmedResults: 50 })).toMatchObject({
      kind: 'no-quorum',
      chosen: null,
    });
  });

  it('tells independence and the first differing frame', () => {
    expect(independent({ workerId: 'a', address: '1' }, { workerId: 'b', address: '2' }, false)).toBe(true);
    expect(independent({ workerId: 'a', address: '1' }, { workerId: 'a', address: '2' }, true)).toBe(false);
    expect(independent({ workerId: 'a', address: null }, { workerId: 'b', address: null }, true)).toBe(true);
    expect(firstDifferingFrame(['a', 'b', 'c'], ['a', 'b', 'd'])).toBe(3);
    expect(firstDifferingFrame(['a'], ['a', 'b'])).toBe(2);
    expect(firstDifferingFrame(['a'], ['a'])).toBeNull();
  });
});
