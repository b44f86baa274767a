/**
 * The tab ↔ coordinator WebSocket protocol, version 3.
 *
 * Defined once here; the coordinator and the contributor page both import it
 * and validate every message on arrival. Every message has a `type` and an
 * `id` (the sender's correlation id); replies name the message they answer in
 * `replyTo`. `hello` names the protocol version, so a stale tab is told to
 * reload instead of misbehaving: the endpoint stays `/ws/v1`, where every
 * page ever served connects, because a tab that reached no endpoint would only
 * retry forever instead of hearing that it must reload.
 *
 * Version 2: the coordinator, not the tab, names the worker. A tab's first
 * hello carries no identity; `welcome` gives it a worker id and a credential
 * (signed by the coordinator, unguessable), which the tab presents in every
 * later hello. A hello whose credential is missing, forged or from another
 * grid gets a fresh identity, never someone else's.
 *
 * Version 3: one assignment carries several rungs of one chunk (one download,
 * one decode in the tab, up to the tab's declared `maxRungs`), each rung its
 * own lease (task id, token, attempt, upload URL, encode parameters), so each
 * is fenced, completed, failed and retried on its own with `complete` and
 * `fail` as before. One heartbeat renews every lease of the batch (a tab's
 * message count does not grow with its rungs), and a heartbeat with `ready`
 * says the tab's encoder is free: the coordinator may send the next chunk
 * while these segments upload and wait for their verdicts. A
 * reconnecting tab names every lease it still holds in `resume`. A version 2
 * tab is closed with 4000 (reload the page).
 */
import { z } from 'zod';
import { taskEncoderSchema } from './encoder-choice.js';
import { renditionNameSchema } from './ladder.js';

export const PROTOCOL_VERSION = 3 as const;
/**
 * Most rungs in one assignment: a chunk has one lease per rendition and the
 * ladder knows 7, so 8 bounds every honest batch; the bound also caps what a
 * heartbeat may name and what a hello may resume (two batches: one encoding,
 * one still uploading or being checked).
 */
export const MAX_RUNGS_PER_ASSIGN = 8;
export const MAX_LEASES_HELD = 2 * MAX_RUNGS_PER_ASSIGN;
export const WS_PATH = '/ws/v1';

/**
 * Close codes the coordinator ends a socket with (RFC 6455 7.4.1, and 4000
 * in the private range). The tab reconnects with backoff after any of them,
 * except 4000, after which it asks for a reload.
 */
export const WS_CLOSE = {
  /** A frame that is not valid UTF-8 text (set by the ws library). */
  invalidData: 1007,
  /** Over the message rate, or no hello within the deadline. */
  policyViolation: 1008,
  /** A message over the size limit. */
  tooBig: 1009,
  /** The coordinator is busy (too many connections from this address, too many hellos waiting): try again later. */
  tryAgainLater: 1013,
  /** The tab speaks another protocol version: reload the page. */
  unsupportedProtocol: 4000,
} as const;

const messageId = z.string().min(1).max(64);
const leaseId = z.string().min(1).max(64);
const leaseToken = z.string().min(1).max(128);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex digits');
/** Worker ids are issued by the coordinator; the pattern keeps them safe in logs, URLs and SQL text. */
export const workerIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);
/**
 * Opaque to the tab. Any string of this size is accepted in hello and
 * checked by the coordinator: one that does not verify gets a fresh identity
 * rather than an error, so a tab whose credential went stale still joins.
 */
export const workerCredentialSchema = z.string().min(1).max(256);

export const encoderKindSchema = z.enum(['wasm-x264', 'webcodecs-h264', 'native-x264']);
export type EncoderKind = z.infer<typeof encoderKindSchema>;

export const capabilitiesSchema = z.object({
  encoders: z.array(encoderKindSchema).min(1).max(8),
  /** Threads the tab's encoder will use (1 for the single-thread wasm core). */
  threads: z.number().int().min(1).max(64),
  /** Whether the wasm multi-thread core is loaded (needs cross-origin isolation). */
  wasmMultiThread: z.boolean(),
  /** Hardware threads the browser reports (navigator.hardwareConcurrency). */
  hardwareConcurrency: z.number().int().min(1).max(1024).optional(),
  userAgent: z.string().max(512).optional(),
  /**
   * Most rungs of one chunk the tab encodes from one decode (Transcoder.maxRungs);
   * absent means 1. The coordinator never leases it more rungs at once.
   */
  maxRungs: z.number().int().min(1).max(MAX_RUNGS_PER_ASSIGN).optional(),
});
export type Capabilities = z.infer<typeof capabilitiesSchema>;

/** What the tab must produce for one task. */
export const encodeParamsSchema = z.object({
  rendition: renditionNameSchema,
  codec: z.literal('h264'),
  width: z.number().int().min(2).max(7680).multipleOf(2),
  height: z.number().int().min(2).max(7680).multipleOf(2),
  /** Clockwise rotation to apply before scaling (the chunk carries no rotation metadata we trust). */
  rotation: z.union([z.literal(0), z.literal(90), z.literal(180), z.literal(270)]),
  crf: z.number().int().min(0).max(51),
  maxrateKbps: z.number().int().min(50).max(100_000),
  bufsizeKbps: z.number().int().min(50).max(200_000),
  preset: z.enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium']),
  /**
   * Which encoder makes this rung (taskEncoderSchema): x264 (crf, maxrate,
   * bufsize, preset above) or WebCodecs (bitrateKbps below). Absent means
   * x264: tasks planned before the setting existed.
   */
  encoder: taskEncoderSchema.optional(),
  /** WebCodecs only: the average bitrate, kbit/s, calibrated to match x264's SSIM (shared/src/encoder-choice.ts). */
  bitrateKbps: z.number().int().min(50).max(200_000).optional(),
  /** Frames in the chunk; the segment must have exactly this many. */
  frames: z.number().int().min(1),
});
export type EncodeParams = z.infer<typeof encodeParamsSchema>;

const leaseRefSchema = z.object({ leaseId, token: leaseToken });
export type LeaseRef = z.infer<typeof leaseRefSchema>;

/** Lease lists name each lease once (a duplicate would renew, resume or count one lease twice). */
const distinctLeases = <T extends { leaseId: string }>(list: readonly T[], ctx: z.RefinementCtx, path: string): void => {
  if (new Set(list.map((l) => l.leaseId)).size !== list.length) {
    ctx.addIssue({ code: 'custom', path: [path], message: 'a lease appears twice' });
  }
};

// ---- tab → coordinator -------------------------------------------------

export const helloSchema = z
  .object({
    type: z.literal('hello'),
    id: messageId,
    protocol: z.number().int(),
    /** What the last welcome gave this tab; absent on its first hello. Never shown by any API or log. */
    credential: workerCredentialSchema.optional(),
    name: z.string().max(80).optional(),
    capabilities: capabilitiesSchema,
    /**
     * The leases this tab still holds after a reconnect (working on them, or
     * waiting for their verdicts). The coordinator keeps each one whose token is
     * still current and revokes the others. A hello without `resume` means the
     * tab holds nothing: any lease it had is released at once. Only honoured for
     * the identity the credential proves.
     */
    resume: z.array(leaseRefSchema).min(1).max(MAX_LEASES_HELD).optional(),
  })
  .superRefine((m, ctx) => m.resume && distinctLeases(m.resume, ctx, 'resume'));

/**
 * Renews every lease of one batch (the rungs not yet completed or failed).
 * Each lease the coordinator no longer holds for the tab is answered with its
 * own `revoke`; the others are renewed.
 */
export const heartbeatSchema = z
  .object({
    type: z.literal('heartbeat'),
    id: messageId,
    leases: z.array(leaseRefSchema).min(1).max(MAX_RUNGS_PER_ASSIGN),
    /** Fraction of the batch done, 0..1 (the rungs encode together). */
    progress: z.number().min(0).max(1),
    /** Frames every rung has encoded so far, when the encoder reports them. */
    frames: z.number().int().min(0).optional(),
    stage: z.enum(['downloading', 'transcoding', 'uploading']),
    /**
     * The tab is done encoding this batch and would take the next chunk now,
     * while these rungs upload and wait for their verdicts (false or absent:
     * still encoding, or pausing).
     */
    ready: z.boolean().optional(),
  })
  .superRefine((m, ctx) => distinctLeases(m.leases, ctx, 'leases'));

export const completeSchema = z.object({
  type: z.literal('complete'),
  id: messageId,
  leaseId,
  token: leaseToken,
  size: z.number().int().min(1),
  sha256: sha256Hex,
  /** Wall-clock milliseconds the transcode took in the tab (for speed reporting). */
  encodeMs: z.number().int().min(0).optional(),
});

export const failSchema = z.object({
  type: z.literal('fail'),
  id: messageId,
  leaseId,
  token: leaseToken,
  reason: z.string().min(1).max(2000),
});

export const clientMessageSchema = z.discriminatedUnion('type', [helloSchema, heartbeatSchema, completeSchema, failSchema]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type HelloMessage = z.infer<typeof helloSchema>;
export type HeartbeatMessage = z.infer<typeof heartbeatSchema>;
export type CompleteMessage = z.infer<typeof completeSchema>;
export type FailMessage = z.infer<typeof failSchema>;

// ---- coordinator → tab -------------------------------------------------

export const welcomeSchema = z.object({
  type: z.literal('welcome'),
  id: messageId,
  replyTo: messageId,
  protocol: z.literal(PROTOCOL_VERSION),
  /** Who this tab is, as the coordinator sees it (the id `/api/workers` shows). */
  workerId: workerIdSchema,
  /** Present it in the next hello to stay this worker; keep it private to the tab. */
  credential: workerCredentialSchema,
  leaseTtlSeconds: z.number().int().min(1),
  heartbeatIntervalSeconds: z.number().min(0.5),
});

/** One rung of an assignment: its own lease, upload and parameters. */
export const assignedRungSchema = z.object({
  /** The task's id, which names its lease in every later message. */
  leaseId,
  token: leaseToken,
  attempt: z.number().int().min(1),
  /** Presigned PUT of the segment; one object, one method, expires. */
  output: z.object({ url: z.string().url(), contentType: z.literal('video/mp4') }),
  params: encodeParamsSchema,
});
export type AssignedRung = z.infer<typeof assignedRungSchema>;

/**
 * Rungs of one chunk to encode from one decode: one download URL, then per
 * rung a lease. The rungs agree on the chunk (frame count, rotation), name
 * each lease and each rendition once, and number at most the tab's maxRungs.
 */
export const assignSchema = z
  .object({
    type: z.literal('assign'),
    id: messageId,
    jobId: z.string(),
    chunk: z.number().int().min(0),
    /** Presigned GET of the chunk; expires. */
    input: z.object({ url: z.string().url(), size: z.number().int().min(1) }),
    rungs: z.array(assignedRungSchema).min(1).max(MAX_RUNGS_PER_ASSIGN),
  })
  .superRefine((m, ctx) => {
    distinctLeases(m.rungs, ctx, 'rungs');
    const [first] = m.rungs;
    if (!first) return;
    if (new Set(m.rungs.map((r) => r.params.rendition)).size !== m.rungs.length) {
      ctx.addIssue({ code: 'custom', path: ['rungs'], message: 'a rendition appears twice' });
    }
    if (m.rungs.some((r) => r.params.frames !== first.params.frames || r.params.rotation !== first.params.rotation)) {
      ctx.addIssue({ code: 'custom', path: ['rungs'], message: 'the rungs are not of one chunk (frame count or rotation differ)' });
    }
    // One encoder per job (encoder-choice.ts), so one per batch: a tab encodes a batch with one transcoder.
    if (m.rungs.some((r) => (r.params.encoder ?? 'x264') !== (first.params.encoder ?? 'x264'))) {
      ctx.addIssue({ code: 'custom', path: ['rungs'], message: 'the rungs do not share one encoder' });
    }
  });

/** The coordinator's verdict on a `complete`. */
export const resultSchema = z.object({
  type: z.literal('result'),
  id: messageId,
  replyTo: messageId,
  leaseId,
  accepted: z.boolean(),
  reason: z.string().optional(),
  /** Not decided: the coordinator could not check the segment now (database or storage down). Keep the lease and send `complete` again later. */
  retry: z.boolean().optional(),
});

/** Stop working on a lease: it expired, was reassigned, or its job was canceled. */
export const revokeSchema = z.object({
  type: z.literal('revoke'),
  id: messageId,
  leaseId,
  reason: z.string(),
});

export const errorCodeSchema = z.enum([
  'invalid_message',
  'unsupported_protocol',
  'not_introduced',
  'lease_lost',
  /** A dependency (database, storage) is down for now: send the same message again later. */
  'unavailable',
  'internal',
]);
export type ErrorCode = z.infer<typeof errorCodeSchema>;

export const errorSchema = z.object({
  type: z.literal('error'),
  id: messageId,
  replyTo: messageId.optional(),
  code: errorCodeSchema,
  message: z.string(),
});

export const serverMessageSchema = z.discriminatedUnion('type', [welcomeSchema, assignSchema, resultSchema, revokeSchema, errorSchema]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/** One rung of an assignment together with its chunk: everything working on that one lease needs. */
export type RungLease = AssignedRung & Pick<AssignMessage, 'jobId' | 'chunk' | 'input'>;

/** The rungs of an assignment, each as a lease of its own (in the assignment's order). */
export function rungLeases(a: Pick<AssignMessage, 'jobId' | 'chunk' | 'input' | 'rungs'>): RungLease[] {
  return a.rungs.map((r) => ({ ...r, jobId: a.jobId, chunk: a.chunk, input: a.input }));
}

/**
 * The protocol a hello names, read without the rest of the message: a tab
 * of another version may send a hello this version's schema refuses (version
 * 2's `resume` is one object), and it must still hear "reload the page"
 * rather than "invalid message". Undefined for anything that is not a hello.
 */
export function helloProtocol(raw: string): number | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = z.object({ type: z.literal('hello'), protocol: z.number().int() }).safeParse(value);
  return parsed.success ? parsed.data.protocol : undefined;
}
export type WelcomeMessage = z.infer<typeof welcomeSchema>;
export type AssignMessage = z.infer<typeof assignSchema>;
export type ResultMessage = z.infer<typeof resultSchema>;
export type RevokeMessage = z.infer<typeof revokeSchema>;
export type ErrorMessage = z.infer<typeof errorSchema>;

export type ParseResult<T> = { ok: true; message: T } | { ok: false; error: string; id?: string };

/** Parses raw WebSocket text into a message of `schema`, never throwing. */
export function parseMessage<T>(schema: z.ZodType<T>, raw: string): ParseResult<T> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'message is not valid JSON' };
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, message: parsed.data };
  const id =
    typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string'
      ? (value as { id: string }).id.slice(0, 64)
      : undefined;
  const error = parsed.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`)
    .join('; ');
  return id === undefined ? { ok: false, error } : { ok: false, error, id };
}

/** A message before its sender stamps an id on it (distributes over the union). */
export type Unsent<M> = M extends unknown ? Omit<M, 'id'> & { id?: string } : never;
