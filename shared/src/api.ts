/**
 * Shapes of the public HTTP API (`/api/...`), shared by the coordinator that
 * serves them and the dashboard and CLI that read them.
 */
import { z } from 'zod';
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
});
export type SourceInfo = z.infer<typeof sourceInfoSchema>;

export const jobViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  state: jobStateSchema,
  error: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  renditions: z.array(renditionNameSchema),
  source: sourceInfoSchema,
  progress: z.object({ done: z.number().int(), total: z.number().int() }),
  outputs: z.array(z.object({ rendition: renditionNameSchema, url: z.string(), width: z.number().int(), height: z.number().int() })),
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
  attempts: z.number().int(),
  worker: z.string().nullable(),
  progress: z.number(),
  lastError: z.string().nullable(),
  history: z.array(taskAttemptViewSchema),
});
export type TaskView = z.infer<typeof taskViewSchema>;

export const apiErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ApiError = z.infer<typeof apiErrorSchema>;
