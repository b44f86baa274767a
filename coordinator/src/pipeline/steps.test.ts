import { JOB_STATES } from '@tabgrid/shared';
import { describe, expect, it } from 'vitest';
import { SERVER_STEP_STATES } from '../jobs/job-states.js';
import { STEP_OF_STATE, stepsFor } from './steps.js';

const job = (over: Partial<Parameters<typeof stepsFor>[0]>) => ({
  state: 'queued' as const,
  needsCleanup: false,
  quality: null,
  outputs: [],
  ...over,
});
const output = { rendition: '360p' as const, key: 'k', width: 640, height: 360, size: 1 };

describe('stepsFor', () => {
  it('has one step for each state with server work, and none while tabs work', () => {
    expect(Object.keys(STEP_OF_STATE).sort()).toEqual([...SERVER_STEP_STATES].sort());
    expect(stepsFor(job({ state: 'queued' }))).toEqual(['start']);
    expect(stepsFor(job({ state: 'probing' }))).toEqual(['probe']);
    expect(stepsFor(job({ state: 'splitting' }))).toEqual(['split']);
    expect(stepsFor(job({ state: 'transcoding' }))).toEqual([]);
    expect(stepsFor(job({ state: 'merging' }))).toEqual(['merge']);
  });

  it('measures quality before the cleanup deletes its chunks, only for a done job not yet measured', () => {
    expect(stepsFor(job({ state: 'done', needsCleanup: true, outputs: [output] }))).toEqual(['quality', 'cleanup']);
    expect(stepsFor(job({ state: 'done', needsCleanup: true, outputs: [output], quality: [] }))).toEqual(['cleanup']);
    expect(stepsFor(job({ state: 'failed', needsCleanup: true }))).toEqual(['cleanup']);
    expect(stepsFor(job({ state: 'canceled', needsCleanup: true }))).toEqual(['cleanup']);
  });

  it('leaves an ended job alone once it is clean', () => {
    for (const state of JOB_STATES.filter((s) => ['done', 'failed', 'canceled'].includes(s))) {
      expect(stepsFor(job({ state, needsCleanup: false, outputs: [output] }))).toEqual([]);
    }
  });
});
