/**
 * The task row as the lease statements return it, and its column list,
 * defined once: every statement that hands a task to a worker (claim,
 * begin verification) returns exactly these columns.
 */
import { type SQL, sql } from 'drizzle-orm';
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

const TASK_ROW_COLUMNS = [
  'id',
  'job_id',
  'chunk_index',
  'rendition',
  'state',
  'params',
  'chunk_key',
  'chunk_size',
  'attempts',
  'lease_token',
  'lease_owner',
  'lease_expires_at',
] as const satisfies readonly (keyof TaskRow)[];

/** `alias.id, alias.job_id, …` for a RETURNING clause (constant column names, never input). */
export function taskRowColumns(alias?: string): SQL {
  const prefix = alias ? `${alias}.` : '';
  return sql.raw(TASK_ROW_COLUMNS.map((c) => prefix + c).join(', '));
}
