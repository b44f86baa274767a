/**
 * Pushed updates (`GET /api/events`, Server-Sent Events) and the volunteers
 * view (`GET /api/workers`): the coordinator serves these shapes, the
 * dashboard validates them on arrival.
 *
 * Every event carries a full snapshot of its topic, never a delta, so a
 * client that reconnects, or misses an event, is right again at the next one.
 */
import { z } from 'zod';
import { jobViewSchema, taskStateSchema, taskViewSchema } from './api.js';
import { renditionNameSchema } from './ladder.js';
import { capabilitiesSchema } from './protocol.js';

/**
 * Topics a client may ask for with `?topics=…` (comma-separated). `job` is
 * implied by `?job=<id>`. Without `topics`, a stream carries `jobs` and `status`.
 */
export const EVENT_TOPICS = ['jobs', 'workers', 'status'] as const;
export const eventTopicSchema = z.enum(EVENT_TOPICS);
export type EventTopic = z.infer<typeof eventTopicSchema>;
export const DEFAULT_EVENT_TOPICS: readonly EventTopic[] = ['jobs', 'status'];

/** `event: jobs`: every job, newest first, as `GET /api/jobs` returns them. */
export const jobsSnapshotSchema = z.object({ jobs: z.array(jobViewSchema) });
export type JobsSnapshot = z.infer<typeof jobsSnapshotSchema>;

/** `event: job`: one job and its chunk grid; `job` is null when there is no such job (deleted). */
export const jobSnapshotSchema = z.object({
  id: z.string(),
  job: jobViewSchema.nullable(),
  tasks: z.array(taskViewSchema),
  /** Frames in each chunk, by chunk index: what every rendition of that chunk encodes. */
  chunkFrames: z.array(z.number().int()),
  /** The database's clock when the snapshot was taken, to measure elapsed times against. */
  serverTime: z.string(),
});
export type JobSnapshot = z.infer<typeof jobSnapshotSchema>;

/** `event: status`: the few numbers every page shows (is anyone transcoding?). */
export const statusSnapshotSchema = z.object({
  workersConnected: z.number().int(),
  /** Connected workers holding a lease now. */
  workersBusy: z.number().int(),
  /** Tasks of transcoding jobs waiting for a tab. */
  tasksQueued: z.number().int(),
});
export type StatusSnapshot = z.infer<typeof statusSnapshotSchema>;

/** A task a worker holds a lease on now. */
export const workerTaskSchema = z.object({
  jobId: z.string(),
  jobName: z.string(),
  chunk: z.number().int(),
  rendition: renditionNameSchema,
  state: taskStateSchema,
  attempt: z.number().int(),
  progress: z.number(),
  startedAt: z.string().nullable(),
});
export type WorkerTask = z.infer<typeof workerTaskSchema>;

export const workerViewSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  /** As the tab announced them; null if the stored value no longer parses. */
  capabilities: capabilitiesSchema.nullable(),
  connected: z.boolean(),
  connectedAt: z.string(),
  lastSeenAt: z.string(),
  disconnectedAt: z.string().nullable(),
  tasksDone: z.number().int(),
  tasksFailed: z.number().int(),
  consecutiveFailures: z.number().int(),
  /** Set only while the quarantine lasts. */
  quarantinedUntil: z.string().nullable(),
  current: z.array(workerTaskSchema),
});
export type WorkerView = z.infer<typeof workerViewSchema>;

/** Accepted segments per minute: `perMinute[i]` counts the minute that ends `perMinute.length - 1 - i` minutes before `end`'s minute. */
export const throughputSchema = z.object({
  bucketSeconds: z.number().int(),
  perMinute: z.array(z.number().int()),
  /** Start of the newest (still running) bucket. */
  end: z.string(),
});
export type Throughput = z.infer<typeof throughputSchema>;

/** `GET /api/workers` and `event: workers`. */
export const workersSnapshotSchema = z.object({
  /** Connected workers, then those that left in the last hour, newest first. */
  workers: z.array(workerViewSchema),
  totals: z.object({
    /** Every worker ever seen. */
    known: z.number().int(),
    connected: z.number().int(),
    busy: z.number().int(),
    quarantined: z.number().int(),
    tasksDone: z.number().int(),
    tasksFailed: z.number().int(),
  }),
  throughput: throughputSchema,
  serverTime: z.string(),
});
export type WorkersSnapshot = z.infer<typeof workersSnapshotSchema>;

/** `event: unavailable`: the coordinator cannot read its database now; the stream stays open and recovers by itself. */
export const unavailableEventSchema = z.object({ message: z.string() });

/** Every event name and the schema of its data. */
export const eventSchemas = {
  jobs: jobsSnapshotSchema,
  job: jobSnapshotSchema,
  status: statusSnapshotSchema,
  workers: workersSnapshotSchema,
  unavailable: unavailableEventSchema,
} as const;
export type EventName = keyof typeof eventSchemas;
export type EventData<E extends EventName> = z.infer<(typeof eventSchemas)[E]>;
