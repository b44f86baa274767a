/**
 * The coordinator's whole state. Nothing the coordinator process holds in
 * memory is needed after a restart: jobs, tasks (the lease table), attempts
 * and workers all live here.
 */
import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import {
  type EncodeParams,
  JOB_ENCODER_SETTINGS,
  JOB_STATES,
  type JobEncoderSetting,
  type JobState,
  type PlannedRendition,
  type QualitySummary,
  type RenditionName,
  TASK_ENCODERS,
  TASK_STATES,
  type TaskEncoder,
  type TaskState,
  type ThumbnailGrid,
} from '@tabgrid/shared';
import { constantList } from './sql-literals.js';

/**
 * Why an attempt ended; kept per attempt and shown by GET /api/jobs/:id/tasks.
 * `submitted`: the segment passed the content check and waits for an
 * independent replica to confirm it (its verdict is in task_results).
 */
export const ATTEMPT_OUTCOMES = ['done', 'submitted', 'expired', 'failed', 'rejected', 'disconnected', 'canceled'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/**
 * What became of a segment that reached the content check (task_results.verdict):
 *   refused     failed the content check (scores too low); its worker is caught once
 *               another worker's segment of the same chunk passes (the content was
 *               checkable, so the failure was the worker's)
 *   pending     passed; waits for an independent replica to agree
 *   accepted    the task's segment on the content check alone (no replica needed, or none could be had)
 *   confirmed   an independent replica's decoded frames were identical
 *   outvoted    two independent replicas agreed on other frames, or it was refused and
 *               another worker's segment of the chunk passed: its worker was caught
 *   withdrawn   its worker was caught elsewhere, or its stored copy changed: the task is done again
 *   unused      another candidate was chosen without a quorum
 */
export const RESULT_VERDICTS = ['refused', 'pending', 'accepted', 'confirmed', 'outvoted', 'withdrawn', 'unused'] as const;
export type ResultVerdict = (typeof RESULT_VERDICTS)[number];

/** `column IN ('a', 'b', …)` for a CHECK constraint. */
const oneOf = (column: AnyPgColumn, values: readonly string[]) => sql`${column} IN (${constantList(values)})`;

export interface SourceMetadata {
  duration: number;
  width: number;
  height: number;
  fps: number;
  hasAudio: boolean;
  codec: string;
  /** ffprobe's pix_fmt of the video stream; absent on jobs probed before it was kept. */
  pixFmt?: string;
  sarNum: number;
  sarDen: number;
  rotation: 0 | 90 | 180 | 270;
  frames: number | null;
  /**
   * Set at probe when the source is re-encoded natively before the split
   * (media/normalize.ts): why, and the constant rate it is normalised to.
   * Absent on jobs probed before this existed: split as is.
   */
  normalized?: { reasons: string[]; frameRate: string } | null;
}

export interface JobOutput {
  rendition: RenditionName;
  key: string;
  width: number;
  height: number;
  size: number;
}

/** What the merge step produced besides the MP4s (keys in storage/keys.ts). */
export interface JobDeliverables {
  hls: { masterKey: string; playlists: string[] } | null;
  posterKey: string | null;
  thumbnails: (ThumbnailGrid & { key: string }) | null;
}

/** One rendition's quality figures (media/quality.ts); the reference is a single-pass native encode with the same settings. */
export interface StoredRenditionQuality extends QualitySummary {
  rendition: RenditionName;
  reference: { ssim: number; psnr: number } | null;
  /** Wall time of the measurement, ms (reference encode included). */
  elapsedMs: number;
}

export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    state: text('state').$type<JobState>().notNull().default('queued'),
    error: text('error'),
    requestedRenditions: jsonb('requested_renditions').$type<RenditionName[]>().notNull(),
    /** What the job asked for (x264, webcodecs, auto); resolved once per job onto its tasks (tasks.encoder) when they are planned. */
    encoder: text('encoder').$type<JobEncoderSetting>().notNull().default('x264'),
    ladder: jsonb('ladder').$type<PlannedRendition[]>(),
    sourceKey: text('source_key').notNull(),
    sourceSize: bigint('source_size', { mode: 'number' }).notNull(),
    source: jsonb('source').$type<SourceMetadata>(),
    totalChunks: integer('total_chunks'),
    outputs: jsonb('outputs').$type<JobOutput[]>().notNull().default(sql`'[]'::jsonb`),
    /** HLS, poster and thumbnails; null for jobs merged before these existed. */
    deliverables: jsonb('deliverables').$type<JobDeliverables>(),
    /** Set after done by the quality pass (pipeline/quality-step.ts); null before or when it could not run. */
    quality: jsonb('quality').$type<StoredRenditionQuality[]>(),
    /** Which coordinator runs the job's current server-side step (probe, split, merge), and until when. */
    runnerId: text('runner_id'),
    runnerExpiresAt: timestamp('runner_expires_at', { withTimezone: true }),
    stepAttempts: integer('step_attempts').notNull().default(0),
    /** Set when the job ends (done, failed, canceled); the runner then deletes its intermediate objects and clears it. */
    needsCleanup: boolean('needs_cleanup').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('jobs_state_idx').on(t.state),
    check('jobs_state_check', oneOf(t.state, JOB_STATES)),
    check('jobs_encoder_check', oneOf(t.encoder, JOB_ENCODER_SETTINGS)),
  ],
);

export const tasks = pgTable(
  'tasks',
  {
    id: text('id').primaryKey(),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    chunkIndex: integer('chunk_index').notNull(),
    rendition: text('rendition').$type<RenditionName>().notNull(),
    state: text('state').$type<TaskState>().notNull().default('queued'),
    params: jsonb('params').$type<EncodeParams>().notNull(),
    /**
     * The encoder this task is pinned to (the same for every task of a job,
     * hence one codec configuration per rendition for the merge's stream
     * copy); the claim gives it only to a worker that reported that encoder.
     * Equals params.encoder (absent there means x264).
     */
    encoder: text('encoder').$type<TaskEncoder>().notNull().default('x264'),
    chunkKey: text('chunk_key').notNull(),
    chunkSize: integer('chunk_size').notNull(),
    attempts: integer('attempts').notNull().default(0),
    /**
     * Attempts that do not count against MAX_ATTEMPTS: those before the job
     * was last retried (or the task redone), and each one that submitted a
     * result for a replica to confirm.
     */
    retryBase: integer('retry_base').notNull().default(0),
    leaseToken: text('lease_token'),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
    /** Not leasable before this time (retry backoff). */
    availableAt: timestamp('available_at', { withTimezone: true }).notNull().defaultNow(),
    progress: real('progress').notNull().default(0),
    segmentKey: text('segment_key'),
    segmentSize: integer('segment_size'),
    segmentSha256: text('segment_sha256'),
    lastError: text('last_error'),
    /**
     * While the task waits for an independent replica of a pending result:
     * the encoder configuration (workers/encoder-config.ts) the replica must
     * come from. NULL otherwise.
     */
    replicaConfig: text('replica_config'),
    /** After this, a task still waiting for a replica is settled on the content check alone. */
    replicaDeadline: timestamp('replica_deadline', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('tasks_job_chunk_rendition_uq').on(t.jobId, t.chunkIndex, t.rendition),
    index('tasks_claimable_idx').on(t.state, t.availableAt),
    index('tasks_lease_owner_idx').on(t.leaseOwner),
    check('tasks_state_check', oneOf(t.state, TASK_STATES)),
    check('tasks_encoder_check', oneOf(t.encoder, TASK_ENCODERS)),
  ],
);

export const taskAttempts = pgTable(
  'task_attempts',
  {
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    workerId: text('worker_id').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    /** done | expired | failed | rejected | disconnected | canceled; null while running. */
    outcome: text('outcome').$type<AttemptOutcome>(),
    reason: text('reason'),
  },
  (t) => [
    primaryKey({ columns: [t.taskId, t.attempt] }),
    check('task_attempts_outcome_check', sql`${t.outcome} IS NULL OR ${oneOf(t.outcome, ATTEMPT_OUTCOMES)}`),
  ],
);

export const workers = pgTable(
  'workers',
  {
    id: text('id').primaryKey(),
    name: text('name'),
    capabilities: jsonb('capabilities').notNull(),
    coordinatorId: text('coordinator_id'),
    connectedAt: timestamp('connected_at', { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
    disconnectedAt: timestamp('disconnected_at', { withTimezone: true }),
    tasksDone: integer('tasks_done').notNull().default(0),
    tasksFailed: integer('tasks_failed').notNull().default(0),
    /** Failures since the last accepted segment; drives the quarantine below. */
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    /** A worker that keeps failing gets no work until then. */
    quarantinedUntil: timestamp('quarantined_until', { withTimezone: true }),
    /** The network address the worker's current (or last) session came from, as the coordinator saw it. */
    address: text('address'),
    /** Results of this worker an independent replica agreed with since it was last caught: trusted from TRUST_AFTER_CONFIRMED. */
    confirmedResults: integer('confirmed_results').notNull().default(0),
    /** When the worker was last caught (a segment failed the content check, outvoted by replicas, an accepted upload overwritten), and why. */
    caughtAt: timestamp('caught_at', { withTimezone: true }),
    caughtReason: text('caught_reason'),
  },
  (t) => [index('workers_address_idx').on(t.address)],
);

/**
 * Every segment of a task that reached the content check: the ones that
 * passed (the candidates a replica vote compares by decoded frame hashes,
 * never container bytes, and the one the task accepted) and the ones it
 * refused (kept to tell a lying worker from content no encoder can carry at
 * the rung). Rows live and die with their task.
 */
export const taskResults = pgTable(
  'task_results',
  {
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    workerId: text('worker_id').notNull(),
    /** The worker's address when it submitted: replicas must come from another one. */
    address: text('address'),
    /** Deterministic encoder configuration the segment came from, or NULL: checked by content only. */
    encoderConfig: text('encoder_config'),
    /** The protected copy (storage/keys.ts verifiedSegment): no presigned URL can write it. The tab's upload key for a refused one. */
    segmentKey: text('segment_key').notNull(),
    segmentSize: integer('segment_size').notNull(),
    segmentSha256: text('segment_sha256').notNull(),
    /** sha256 of the per-frame sha256s of the decoded frames, in order: equal exactly when every frame is. */
    framesSha256: text('frames_sha256'),
    /** The first 16 hex digits of each decoded frame's sha256: names the first frame two replicas disagree on. */
    frameHashes: jsonb('frame_hashes').$type<string[]>(),
    /** The content check's worst frame scores (null for a refused segment). */
    minSsim: real('min_ssim'),
    minPsnr: real('min_psnr'),
    minTilePsnr: real('min_tile_psnr'),
    verdict: text('verdict').$type<ResultVerdict>().notNull().default('pending'),
    reason: text('reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.taskId, t.attempt] }),
    index('task_results_worker_idx').on(t.workerId, t.verdict),
    check('task_results_verdict_check', oneOf(t.verdict, RESULT_VERDICTS)),
  ],
);

/**
 * Server-side secrets shared by every coordinator on the database (signing
 * keys for worker credentials and share links): created once, at random, by
 * whichever coordinator needs one first (secrets/secret-table.ts).
 */
export const secrets = pgTable('secrets', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
