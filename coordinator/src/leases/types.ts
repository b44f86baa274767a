import type { AttemptOutcome } from '../db/schema.js';
import type { TaskRow } from '../tasks/task-columns.js';

export type { AttemptOutcome, TaskRow };

/** How task leases behave: built from the configuration in one place (leases/policy.ts). */
export interface LeasePolicy {
  readonly ttlSeconds: number;
  /** After this many attempts a task is dead and its job fails. */
  readonly maxAttempts: number;
  /** Replicas may come from the address of the result they confirm (REPLICAS_FROM_SAME_ADDRESS: a lab, tests on one machine). */
  readonly sameAddressReplicas?: boolean;
}
