import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Notifier } from '../notify/index.js';
import type { MediaTools } from '../media/tools.js';
import type { Storage } from '../storage/storage.js';
import type { JobRow } from '../jobs/job-table.js';

/** What every server-side step needs. */
export interface PipelineContext {
  readonly db: Db;
  readonly storage: Storage;
  readonly tools: MediaTools;
  readonly config: Config;
  readonly logger: Logger;
  /** Announces what a step changed (notify/). */
  readonly notifier: Notifier;
}

/** Scratch space for one job on this coordinator's disk; nothing here is needed after a restart. */
export function workDir(ctx: { readonly config: Pick<Config, 'dataDir'> }, jobId: string): string {
  return path.join(ctx.config.dataDir, 'work', jobId);
}

export async function freshDir(dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

export function sourceExt(job: Pick<JobRow, 'sourceKey'>): string {
  return path.extname(job.sourceKey).slice(1) || 'bin';
}

/** The source on local disk: kept from the upload or an earlier step, else downloaded from storage. */
export async function localSource(ctx: PipelineContext, job: JobRow): Promise<string> {
  const dir = workDir(ctx, job.id);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `source.${sourceExt(job)}`);
  const existing = await stat(file).catch(() => null);
  if (existing?.size === job.sourceSize) return file;
  ctx.logger.info({ jobId: job.id, key: job.sourceKey, bytes: job.sourceSize }, 'downloading source from storage');
  await ctx.storage.getToFile(job.sourceKey, file);
  return file;
}
