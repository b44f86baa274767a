/**
 * submitJob(deps, source) → the new job (state queued)
 *
 * Job intake, whichever way the source arrived (a multipart upload or a URL
 * the coordinator downloaded; both are a file on local disk by now):
 *   1. the renditions and the encoder asked for are parsed (InvalidRequestError),
 *   2. the file is probed, so a file that is not a video, or is over one of
 *      the source limits (size, frame rate, frames, packets, duration:
 *      media/source-limits.ts), is refused now, in words (InvalidSourceError,
 *      422), before any step spends time on it,
 *   3. it is stored as the job's source, and kept on local disk for the first
 *      steps rather than downloaded again,
 *   4. the job row is inserted and the runners are told.
 * The caller removes `source.path` afterwards whatever happened.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { type JobEncoderSetting, jobEncoderSettingSchema, parseRenditionList, type RenditionName } from '@tabgrid/shared';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { InvalidRequestError, InvalidSourceError, PermanentError } from '../errors.js';
import type { Logger } from '../logger.js';
import { probeSource } from '../media/probe.js';
import type { MediaTools } from '../media/tools.js';
import type { Notifier } from '../notify/index.js';
import { workDir } from '../pipeline/context.js';
import { storageKeys } from '../storage/keys.js';
import type { Storage } from '../storage/storage.js';
import { insertJob, type JobRow } from './job-table.js';

export interface IntakeDeps {
  readonly db: Db;
  readonly storage: Storage;
  readonly tools: MediaTools;
  readonly config: Config;
  readonly logger: Logger;
  readonly notifier: Notifier;
}

/** A source file on this coordinator's disk, as received. */
export interface ReceivedSource {
  readonly path: string;
  readonly filename: string;
  readonly size: number;
  /** Small form fields sent with it (`renditions`, `encoder`). */
  readonly fields: Readonly<Record<string, string>>;
}

/** A safe lower-case extension for the storage key, from the uploaded name. */
function extensionOf(filename: string): string {
  const ext = path.extname(filename).slice(1).toLowerCase();
  return /^[a-z0-9]{1,5}$/.test(ext) ? ext : 'bin';
}

function renditionsOf(deps: IntakeDeps, fields: ReceivedSource['fields']): RenditionName[] {
  if (!fields.renditions) return deps.config.renditions;
  try {
    return parseRenditionList(fields.renditions);
  } catch (err) {
    throw new InvalidRequestError(`renditions: ${(err as Error).message}`, { cause: err });
  }
}

/** `x264` (the default), `webcodecs` or `auto` (shared/src/encoder-choice.ts). */
function encoderOf(fields: ReceivedSource['fields']): JobEncoderSetting {
  if (fields.encoder === undefined || fields.encoder === '') return 'x264';
  const parsed = jobEncoderSettingSchema.safeParse(fields.encoder);
  if (!parsed.success) throw new InvalidRequestError(`encoder: must be one of x264, webcodecs, auto`);
  return parsed.data;
}

export async function submitJob(deps: IntakeDeps, source: ReceivedSource): Promise<JobRow> {
  const renditions = renditionsOf(deps, source.fields);
  const encoder = encoderOf(source.fields);
  try {
    await probeSource(deps.tools, source.path, deps.config.sourceLimits);
  } catch (err) {
    if (err instanceof PermanentError) throw new InvalidSourceError(err.message, { cause: err });
    throw err;
  }
  const id = randomUUID();
  const ext = extensionOf(source.filename);
  const sourceKey = storageKeys.source(id, ext);
  await deps.storage.putFile(sourceKey, source.path, 'application/octet-stream');
  const dir = workDir(deps, id);
  await mkdir(dir, { recursive: true });
  await rename(source.path, path.join(dir, `source.${ext}`));
  const job = await insertJob(deps.db, {
    id,
    name: source.filename.slice(0, 255),
    renditions,
    encoder,
    sourceKey,
    sourceSize: source.size,
  });
  deps.logger.info({ jobId: id, name: job.name, bytes: source.size, renditions, encoder }, 'job created');
  deps.notifier.publish({ kind: 'job', jobId: id });
  return job;
}
