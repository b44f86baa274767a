import type { EncodeParams, RenditionName, TaskState } from '@tabgrid/shared';

/** A task row as the lease statements return it (snake_case columns from raw SQL). */
export interface TaskRow {
  id: string;
  job_id: string;
  chunk_index: number;
  rendition: RenditionName;
  state: TaskState;
  params: EncodeParams;
  chunk_key: string;
  chunk_size: number;
  attempts: number;
  lease_token: string | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
}

/** Why an attempt ended; kept per attempt and shown by GET /api/jobs/:id/tasks. */
export type AttemptOutcome = 'done' | 'expired' | 'failed' | 'rejected' | 'disconnected' | 'canceled';

export interface LeasePolicy {
  readonly ttlSeconds: number;
  /** After this many attempts a task is dead and its job fails. */
  readonly maxAttempts: number;
}
