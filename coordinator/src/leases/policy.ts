/**
 * How both kinds of lease behave, built from the configuration in one place:
 * task leases (a tab's chunk × rendition) and step leases (a coordinator's
 * probe, split, merge, quality or cleanup of a job).
 *
 * A task lease lives LEASE_TTL_SECONDS past the tab's last heartbeat (tabs
 * heartbeat every third of it); a step lease lives STEP_LEASE_TTL_SECONDS
 * past the runner's last renewal (also every third). Steps are ffmpeg runs
 * that may take minutes, but the runner renews on a timer, not per frame,
 * so their TTL only bounds how long a dead coordinator holds a job.
 */
import type { BackoffPolicy } from '@tabgrid/shared';
import type { Config } from '../config.js';
import type { LeasePolicy } from './types.js';

export interface StepLeasePolicy {
  readonly ttlSeconds: number;
  /** A step that failed this many times in a row (retryable errors) fails its job. */
  readonly maxAttempts: number;
}

export function taskLeasePolicy(
  config: Pick<Config, 'leaseTtlSeconds' | 'maxAttempts'> & Partial<Pick<Config, 'replicasFromSameAddress'>>,
): LeasePolicy {
  return {
    ttlSeconds: config.leaseTtlSeconds,
    maxAttempts: config.maxAttempts,
    sameAddressReplicas: config.replicasFromSameAddress ?? false,
  };
}

export function stepLeasePolicy(config: Pick<Config, 'stepLeaseTtlSeconds' | 'maxStepAttempts'>): StepLeasePolicy {
  return { ttlSeconds: config.stepLeaseTtlSeconds, maxAttempts: config.maxStepAttempts };
}

/** How often a holder renews a lease of `ttlSeconds`: three chances before it lapses. */
export const renewEveryMs = (ttlSeconds: number): number => (ttlSeconds * 1000) / 3;

/**
 * A failed task waits 2^n s before it is leased again (n: its attempts since
 * the job was last retried), at most a minute: long enough that a worker
 * that fails everything does not spin through MAX_ATTEMPTS in a second, short
 * enough that a one-off failure costs little. Applied in SQL (leases/fail.ts)
 * from these numbers.
 */
export const TASK_RETRY_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, jitter: 'none' };

/** A server-side step that failed with a retryable error waits 2^n s (n: its attempts so far), at most a minute. */
export const STEP_RETRY_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, jitter: 'none' };
