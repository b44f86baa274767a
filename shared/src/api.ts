/**
 * Shapes of the public HTTP API (`/api/...`), shared by the coordinator that
 * serves them and the dashboard and CLI that read them.
 */
import { z } from 'zod';
import { jobEncoderSettingSchema, taskEncoderSchema } from './encoder-choice.js';
import { renditionNameSchema } from './ladder.js';

export const JOB_STATES = ['queued', 'probing', 'splitting', 'transcoding', 'merging', 'done', 'failed', 'canceled'] as const;
export const jobStateSchema = z.enum(JOB_STATES);
export type JobState = z.infer<typeof jobStateSchema>;
export const TERMINAL_JOB_STATES: readonly JobState[] = ['done', 'failed', 'canceled'];

export const TASK_STATES = ['queued', 'leased', 'verifying', 'done', 'dead', 'canceled'] as const;
export const taskStateSchema = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof taskStateSchema>;

export const sourceInfoSchema = z.object({
  duration: z.number().nullable(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  fps: z.number().nullable(),
  hasAudio: z.boolean().nullable(),
  /**
   * Why the source was re-encoded natively before the split (codec, vfr,
   * interlaced, sparse_keyframes, start_offset); empty when it was split as
   * is. Absent before probing and from older coordinators.
   */
  normalized: z.array(z.string()).optional(),
});
export type SourceInfo = z.infer<typeof sourceInfoSchema>;

/** Quality of one rendition against the source (see the coordinator's media/quality.ts). */
export const renditionQualitySchema = z.object({
  rendition: renditionNameSchema,
  ssim: z.number(),
  psnr: z.number(),
  /** Mean SSIM of the first and last frame of every chunk. */
  boundarySsim: z.number(),
  /** Mean SSIM of every other frame. */
  interiorSsim: z.number(),
  /** A single-pass native libx264 encode of the whole source with the same settings, measured the same way. */
  reference: z.object({ ssim: z.number(), psnr: z.number() }).nullable(),
});
export type RenditionQuality = z.infer<typeof renditionQualitySchema>;

/** The thumbnail sprite: `columns` × `rows` tiles of `width` × `height`, tile i (row-major) at time i × `interval` s. */
export const thumbnailsViewSchema = z.object({
  url: z.string(),
  columns: z.number().int(),
  rows: z.number().int(),
  count: z.number().int(),
  interval: z.number(),
  width: z.number().int(),
  height: z.number().int(),
});
export type ThumbnailsView = z.infer<typeof thumbnailsViewSchema>;

export const jobViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  state: jobStateSchema,
  error: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  renditions: z.array(renditionNameSchema),
  /** The encoder the job asked for, and the one its tasks were pinned to (null until planned). Absent from older coordinators. */
  encoder: z.object({ asked: jobEncoderSettingSchema, chosen: taskEncoderSchema.nullable() }).optional(),
  source: sourceInfoSchema,
  progress: z.object({ done: z.number().int(), total: z.number().int() }),
  outputs: z.array(z.object({ rendition: renditionNameSchema, url: z.string(), width: z.number().int(), height: z.number().int() })),
  /** The HLS ladder, served by the coordinator (`/api/jobs/:id/hls/master.m3u8`); null until done. Absent from older coordinators. */
  hls: z.object({ master: z.string() }).nullable().optional(),
  /** Presigned GET of the poster JPEG. */
  poster: z.string().nullable().optional(),
  thumbnails: thumbnailsViewSchema.nullable().optional(),
  quality: z.array(renditionQualitySchema).nullable().optional(),
});
export type JobView = z.infer<typeof jobViewSchema>;

export const taskAttemptViewSchema = z.object({
  attempt: z.number().int(),
  worker: z.string().nullable(),
  outcome: z.string().nullable(),
  reason: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
});

export const taskViewSchema = z.object({
  chunk: z.number().int(),
  rendition: renditionNameSchema,
  state: taskStateSchema,
  /** Absent from older coordinators. */
  encoder: taskEncoderSchema.optional(),
  attempts: z.number().int(),
  worker: z.string().nullable(),
  progress: z.number(),
  lastError: z.string().nullable(),
  history: z.array(taskAttemptViewSchema),
});
export type TaskView = z.infer<typeof taskViewSchema>;

export const apiErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ApiError = z.infer<typeof apiErrorSchema>;

/** `POST /api/jobs` (201): the new job, before any work on it. */
export const createdJobSchema = jobViewSchema.pick({ id: true, state: true });
export type CreatedJob = z.infer<typeof createdJobSchema>;

/**
 * `POST /api/jobs/:id/cancel` and `/retry`: the job's state after the change.
 * A retry reads the state back after restarting the job, so `state` is absent
 * when the job was deleted in between.
 */
export const jobStateChangeSchema = z.object({ id: z.string(), state: jobStateSchema.optional() });
export type JobStateChange = z.infer<typeof jobStateChangeSchema>;

const dependencyHealthSchema = z.union([z.object({ ok: z.literal(true) }), z.object({ ok: z.literal(false), error: z.string() })]);

/** `GET /healthz`: 200 when both dependencies answer, 503 (same body) naming what does not. */
export const healthReportSchema = z.object({ ok: z.boolean(), database: dependencyHealthSchema, storage: dependencyHealthSchema });
export type HealthReport = z.infer<typeof healthReportSchema>;

/**
 * `GET /api/session` (and the answer to a login): whether this coordinator
 * needs its operator token (ADMIN_TOKEN), whether this request carries a good
 * credential, and until when the session cookie lasts (null for a bearer
 * token, or without a session).
 */
export const sessionStatusSchema = z.object({
  required: z.boolean(),
  authenticated: z.boolean(),
  expiresAt: z.string().nullable(),
});
export type SessionStatus = z.infer<typeof sessionStatusSchema>;

/** `POST /api/session`: the operator token, exchanged for an HttpOnly session cookie. */
export const loginRequestSchema = z.object({ token: z.string().min(1).max(1024) }).strict();
export type LoginRequest = z.infer<typeof loginRequestSchema>;

/** `POST /api/jobs/:id/share` (optional JSON body): how long the link works, in days (default 7, at most 90). */
export const shareRequestSchema = z.object({ expiresInDays: z.number().int().min(1).max(90).optional() }).strict();
export type ShareRequest = z.infer<typeof shareRequestSchema>;

/** `POST /api/jobs/:id/share` (201): a capability URL that shows this one job to whoever has it. */
export const shareLinkSchema = z.object({
  /** `<origin>/share/<capability>`: the dashboard's page for it. */
  url: z.string(),
  /** The capability alone, as `GET /api/shared/:capability` takes it. */
  capability: z.string(),
  expiresAt: z.string(),
});
export type ShareLink = z.infer<typeof shareLinkSchema>;

/**
 * `GET /api/shared/:capability`: the shared job as its viewers see it. The
 * JobView's `hls.master` points at the share's own playlists
 * (`/api/shared/:capability/hls/master.m3u8`), and a failure's reason is
 * not shown. Any bad link (altered, expired, its job deleted) is one 404.
 */
export const sharedJobSchema = z.object({ job: jobViewSchema, expiresAt: z.string() });
export type SharedJob = z.infer<typeof sharedJobSchema>;
