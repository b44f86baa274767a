/**
 * Coordinator configuration, read from the environment once at start and
 * validated: a bad value stops the process with a message naming the variable.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { parseRenditionList, type RenditionName } from '@tabgrid/shared';
import { DEFAULT_SOURCE_LIMITS, type SourceLimits } from './media/source-limits.js';
import { defaultToolMemoryMiB } from './media/tools.js';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false'], { message: 'must be true or false' }).transform((v) => v === 'true');

const envSchema = z
  .object({
    PORT: port.default(8000),
    HOST: z.string().min(1).default('127.0.0.1'),
    /** The origin browsers use to reach this coordinator; presigned storage URLs point at it in embedded mode. */
    PUBLIC_URL: z.string().url().optional(),
    DATA_DIR: z.string().min(1).default('./.tabgrid'),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    S3_ENDPOINT: z.string().url().optional(),
    /** Where browsers reach the S3 server when it differs from S3_ENDPOINT (e.g. inside docker-compose). */
    S3_PUBLIC_ENDPOINT: z.string().url().optional(),
    S3_ACCESS_KEY: z.string().min(1).optional(),
    S3_SECRET_KEY: z.string().min(1).optional(),
    S3_BUCKET: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')
      .optional(),
    S3_REGION: z.string().min(1).default('us-east-1'),
    LEASE_TTL_SECONDS: positiveInt.max(3600).default(30),
    MAX_ATTEMPTS: positiveInt.max(100).default(5),
    /** A coordinator's lease on a job's server-side step (probe, split, merge, cleanup). */
    STEP_LEASE_TTL_SECONDS: positiveInt.max(3600).default(30),
    MAX_STEP_ATTEMPTS: positiveInt.max(100).default(5),
    /** Share of a trusted worker's results confirmed by an independent replica anyway (scheduler/replication.ts). */
    REPLICA_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0.1),
    /** How long a result waits for a replica before it is accepted on the content check alone. */
    REPLICA_WAIT_SECONDS: positiveInt.max(86_400).default(300),
    /** Let replicas come from the address of the result they confirm: a lab, or tests on one machine. */
    REPLICAS_FROM_SAME_ADDRESS: z.enum(['true', 'false', '1', '0']).default('false'),
    DISCONNECT_GRACE_SECONDS: z.coerce.number().min(0).max(600).default(5),
    /** Fault injection for tests: "name=ms,name=ms" pauses at named points (see failpoints.ts). */
    TABGRID_FAILPOINTS: z
      .string()
      .regex(/^([a-z.-]+=\d+)(,[a-z.-]+=\d+)*$/, 'must look like "merge.before-upload=3000"')
      .optional(),
    RENDITIONS: z.string().default('720p,480p,360p'),
    CHUNK_SECONDS: z.coerce.number().min(1).max(60).default(4),
    MAX_UPLOAD_BYTES: positiveInt.default(4 * 1024 ** 3),
    /** Longest source accepted (4 h): refused at upload with 422. */
    MAX_DURATION_SECONDS: positiveInt.default(DEFAULT_SOURCE_LIMITS.maxDurationSeconds),
    /** Source limits (media/source-limits.ts): refused at upload with 422, and at the probe step. */
    MAX_SOURCE_WIDTH: positiveInt.default(DEFAULT_SOURCE_LIMITS.maxWidth),
    MAX_SOURCE_HEIGHT: positiveInt.default(DEFAULT_SOURCE_LIMITS.maxHeight),
    MAX_SOURCE_PIXELS: positiveInt.default(DEFAULT_SOURCE_LIMITS.maxPixels),
    MAX_SOURCE_FPS: positiveInt.default(DEFAULT_SOURCE_LIMITS.maxFps),
    MAX_SOURCE_FRAMES: positiveInt.default(DEFAULT_SOURCE_LIMITS.maxFrames),
    MAX_SOURCE_PACKET_RATE: positiveInt.default(DEFAULT_SOURCE_LIMITS.maxPacketRate),
    /** Address-space ceiling of every ffmpeg/ffprobe/yt-dlp run (media/tools.ts); default by cores and RAM. */
    TOOL_MEMORY_LIMIT_MB: positiveInt.min(256).optional(),
    /**
     * URL sources are fetched from public addresses only. "true" also allows
     * loopback, private (10/8, 172.16/12, 192.168/16, 100.64/10) and
     * unique-local (fc00::/7) addresses, for a lab; a comma-separated list of
     * CIDR ranges allows exactly those.
     */
    ALLOW_PRIVATE_SOURCE_URLS: z.string().default('false'),
    /** yt-dlp for web-page URLs: it connects on its own, so it cannot be held to public addresses. Off unless enabled. */
    ALLOW_YT_DLP: bool.default(false),
    /** Uploads (and URL downloads) received at once; more get 503 with Retry-After. */
    MAX_CONCURRENT_UPLOADS: positiveInt.max(1000).default(4),
    /** An upload must be complete within this time. */
    UPLOAD_TIMEOUT_SECONDS: positiveInt.default(2 * 3600),
    /** An upload (or URL download) sending less than this on average over a window is cut off. */
    UPLOAD_MIN_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(8192),
    UPLOAD_RATE_WINDOW_SECONDS: positiveInt.max(3600).default(30),
    /** A client must send a request's headers within this time. */
    HTTP_HEADERS_TIMEOUT_SECONDS: positiveInt.max(600).default(20),
    /** How many reverse proxies of ours stand in front: X-Forwarded-For is read only then ("true" = 1). */
    TRUST_PROXY: z
      .string()
      .regex(/^(true|false|\d{1,2})$/i, 'must be true, false, or the number of proxies in front (0-99)')
      .default('false'),
    /** Tab connections (WebSocket): limits per address and per connection (ws/limits.ts). */
    WS_MAX_CONNECTIONS_PER_ADDRESS: positiveInt.max(100_000).default(64),
    WS_CONNECTIONS_PER_MINUTE: positiveInt.max(1_000_000).default(120),
    WS_HELLO_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(300).default(10),
    WS_MESSAGES_PER_SECOND: z.coerce.number().positive().max(10_000).default(10),
    WS_MESSAGE_BURST: positiveInt.max(100_000).default(60),
    // The largest message a tab may send: a fail whose 2,000-character reason is all
    // control characters, each escaped to 6 bytes in JSON, takes ~12 KB.
    WS_MAX_MESSAGE_BYTES: positiveInt
      .min(16 * 1024)
      .max(1024 * 1024)
      .default(16 * 1024),
    WS_HELLO_CONCURRENCY: positiveInt.max(64).default(4),
    WS_MAX_PENDING_HELLOS: positiveInt.max(1_000_000).default(1000),
    FFMPEG_PATH: z.string().min(1).default('ffmpeg'),
    FFPROBE_PATH: z.string().min(1).default('ffprobe'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * The operators' secret: when set, every /api route needs it (as a bearer
     * token, or through a session cookie got with it). 24 characters at least,
     * so guessing it within the failed-login limit is hopeless; visible ASCII
     * only, since it travels in an HTTP header.
     */
    ADMIN_TOKEN: z
      .string()
      .min(24, 'must be at least 24 characters (for example: openssl rand -base64 32)')
      .max(512, 'must be at most 512 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (it is sent in an HTTP header)')
      .optional(),
    /** How long a dashboard login lasts before the token is asked again. */
    SESSION_TTL_HOURS: positiveInt.max(720).default(168),
  })
  .superRefine((env, ctx) => {
    const s3 = ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_BUCKET'] as const;
    const set = s3.filter((k) => env[k] !== undefined);
    if (set.length > 0 && set.length < s3.length) {
      ctx.addIssue({
        code: 'custom',
        path: [s3.find((k) => env[k] === undefined)!],
        message: `set all of ${s3.join(', ')} to use an external S3/MinIO, or none of them for the embedded storage`,
      });
    }
    if (env.ADMIN_TOKEN === undefined && !isLoopbackHost(env.HOST)) {
      ctx.addIssue({
        code: 'custom',
        path: ['HOST'],
        message:
          `${env.HOST} lets other machines reach this coordinator, and without ADMIN_TOKEN anyone who reaches it could ` +
          'read, submit, cancel and delete every job. Set ADMIN_TOKEN to a secret of at least 24 characters ' +
          '(for example: ADMIN_TOKEN=$(openssl rand -base64 32)), or listen on loopback only (HOST=127.0.0.1)',
      });
    }
    try {
      parseRenditionList(env.RENDITIONS);
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['RENDITIONS'], message: (e as Error).message });
    }
    const ranges = privateSourceRanges(env.ALLOW_PRIVATE_SOURCE_URLS);
    if (typeof ranges === 'string') ctx.addIssue({ code: 'custom', path: ['ALLOW_PRIVATE_SOURCE_URLS'], message: ranges });
  });

/** "false" → none, "true" → the private ranges, else CIDR ranges; a string is what is wrong. */
function privateSourceRanges(value: string): SourceUrlPolicy['allowPrivate'] | string {
  if (value === 'false') return false;
  if (value === 'true') return true;
  const ranges = value
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = ranges.filter((r) => !ipaddr.isValidCIDR(r));
  if (bad.length > 0 || ranges.length === 0) {
    return `must be true, false or a comma-separated list of CIDR ranges (e.g. 10.1.0.0/16,fd00::/8); not ${bad.join(', ') || value}`;
  }
  return ranges;
}

/** Which addresses URL sources may be fetched from besides public ones (jobs/source-download.ts). */
export interface SourceUrlPolicy {
  /** false: public only; true: also loopback, private and unique-local; a list: also exactly these CIDR ranges. */
  readonly allowPrivate: boolean | readonly string[];
  readonly allowYtDlp: boolean;
}

export interface UploadLimits {
  readonly maxConcurrent: number;
  readonly timeoutSeconds: number;
  readonly minBytesPerSecond: number;
  readonly rateWindowSeconds: number;
}

/**
 * Whether a listen address reaches only this machine: 127.0.0.0/8, ::1 (also
 * written in full or IPv4-mapped) and the name localhost. Anything else (a
 * LAN address, 0.0.0.0, ::, a host name) may be reachable by others.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === 'localhost.') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    // The URL parser writes IPv6 in its canonical form: 0:0:0:0:0:0:0:1 → ::1, ::ffff:127.0.0.1 → ::ffff:7f00:1.
    const canonical = new URL(`http://[${h}]/`).hostname;
    return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
  }
  return false;
}

export interface ExternalS3Config {
  readonly endpoint: URL;
  readonly publicEndpoint: URL;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
  readonly region: string;
}

/** What one address or one tab connection may cost (ws/limits.ts, ws/gateway.ts). */
export interface WsLimits {
  /** Sockets one address may hold open at once (tabs behind one NAT share an address). */
  readonly maxConnectionsPerAddress: number;
  /** New sockets per address per minute, after a burst of maxConnectionsPerAddress. */
  readonly connectionsPerMinute: number;
  /** A socket that has not said hello by then is closed (1008). */
  readonly helloTimeoutSeconds: number;
  /** Per connection: a token bucket of messageBurst tokens refilled at messagesPerSecond; excess closes with 1008. */
  readonly messagesPerSecond: number;
  readonly messageBurst: number;
  /** Larger messages close the socket (1009). */
  readonly maxMessageBytes: number;
  /** Hellos handled at once; the rest wait in order, at most maxPendingHellos (then 1013). */
  readonly helloConcurrency: number;
  readonly maxPendingHellos: number;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly publicUrl: string | undefined;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly s3: ExternalS3Config | undefined;
  readonly leaseTtlSeconds: number;
  readonly maxAttempts: number;
  readonly stepLeaseTtlSeconds: number;
  readonly maxStepAttempts: number;
  readonly replicaSampleRate: number;
  readonly replicaWaitSeconds: number;
  readonly replicasFromSameAddress: boolean;
  readonly disconnectGraceSeconds: number;
  readonly failpoints: ReadonlyMap<string, number>;
  readonly renditions: RenditionName[];
  readonly chunkSeconds: number;
  readonly maxUploadBytes: number;
  readonly maxDurationSeconds: number;
  readonly sourceLimits: SourceLimits;
  readonly toolMemoryLimitBytes: number;
  readonly sourceUrls: SourceUrlPolicy;
  readonly uploads: UploadLimits;
  readonly httpHeadersTimeoutSeconds: number;
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
  readonly logLevel: string;
  /** Reverse proxies of ours in front (0: the socket's address is the client's). */
  readonly trustProxy: number;
  readonly ws: WsLimits;
  /** ADMIN_TOKEN: when set, every /api route needs it (see http/auth.ts). */
  readonly adminToken: string | undefined;
  readonly sessionTtlSeconds: number;
}

export class ConfigError extends Error {
  readonly code = 'bad_config';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as docker-compose and shells often produce them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    s3:
      e.S3_ENDPOINT && e.S3_ACCESS_KEY && e.S3_SECRET_KEY && e.S3_BUCKET
        ? {
            endpoint: new URL(e.S3_ENDPOINT),
            publicEndpoint: new URL(e.S3_PUBLIC_ENDPOINT ?? e.S3_ENDPOINT),
            accessKey: e.S3_ACCESS_KEY,
            secretKey: e.S3_SECRET_KEY,
            bucket: e.S3_BUCKET,
            region: e.S3_REGION,
          }
        : undefined,
    leaseTtlSeconds: e.LEASE_TTL_SECONDS,
    maxAttempts: e.MAX_ATTEMPTS,
    stepLeaseTtlSeconds: e.STEP_LEASE_TTL_SECONDS,
    maxStepAttempts: e.MAX_STEP_ATTEMPTS,
    replicaSampleRate: e.REPLICA_SAMPLE_RATE,
    replicaWaitSeconds: e.REPLICA_WAIT_SECONDS,
    replicasFromSameAddress: e.REPLICAS_FROM_SAME_ADDRESS === 'true' || e.REPLICAS_FROM_SAME_ADDRESS === '1',
    disconnectGraceSeconds: e.DISCONNECT_GRACE_SECONDS,
    failpoints: new Map(
      (e.TABGRID_FAILPOINTS ?? '')
        .split(',')
        .filter(Boolean)
        .map((pair) => {
          const [name, ms] = pair.split('=');
          return [name!, Number(ms)] as const;
        }),
    ),
    renditions: parseRenditionList(e.RENDITIONS),
    chunkSeconds: e.CHUNK_SECONDS,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    maxDurationSeconds: e.MAX_DURATION_SECONDS,
    sourceLimits: {
      maxWidth: e.MAX_SOURCE_WIDTH,
      maxHeight: e.MAX_SOURCE_HEIGHT,
      maxPixels: e.MAX_SOURCE_PIXELS,
      maxFps: e.MAX_SOURCE_FPS,
      maxFrames: e.MAX_SOURCE_FRAMES,
      maxPacketRate: e.MAX_SOURCE_PACKET_RATE,
      maxDurationSeconds: e.MAX_DURATION_SECONDS,
    },
    toolMemoryLimitBytes: (e.TOOL_MEMORY_LIMIT_MB ?? defaultToolMemoryMiB()) * 1024 * 1024,
    sourceUrls: {
      allowPrivate: privateSourceRanges(e.ALLOW_PRIVATE_SOURCE_URLS) as SourceUrlPolicy['allowPrivate'],
      allowYtDlp: e.ALLOW_YT_DLP,
    },
    uploads: {
      maxConcurrent: e.MAX_CONCURRENT_UPLOADS,
      timeoutSeconds: e.UPLOAD_TIMEOUT_SECONDS,
      minBytesPerSecond: e.UPLOAD_MIN_BYTES_PER_SECOND,
      rateWindowSeconds: e.UPLOAD_RATE_WINDOW_SECONDS,
    },
    httpHeadersTimeoutSeconds: e.HTTP_HEADERS_TIMEOUT_SECONDS,
    ffmpegPath: e.FFMPEG_PATH,
    ffprobePath: e.FFPROBE_PATH,
    logLevel: e.LOG_LEVEL,
    trustProxy: /^true$/i.test(e.TRUST_PROXY) ? 1 : /^false$/i.test(e.TRUST_PROXY) ? 0 : Number(e.TRUST_PROXY),
    ws: {
      maxConnectionsPerAddress: e.WS_MAX_CONNECTIONS_PER_ADDRESS,
      connectionsPerMinute: e.WS_CONNECTIONS_PER_MINUTE,
      helloTimeoutSeconds: e.WS_HELLO_TIMEOUT_SECONDS,
      messagesPerSecond: e.WS_MESSAGES_PER_SECOND,
      messageBurst: e.WS_MESSAGE_BURST,
      maxMessageBytes: e.WS_MAX_MESSAGE_BYTES,
      helloConcurrency: e.WS_HELLO_CONCURRENCY,
      maxPendingHellos: e.WS_MAX_PENDING_HELLOS,
    },
    adminToken: e.ADMIN_TOKEN,
    sessionTtlSeconds: e.SESSION_TTL_HOURS * 3600,
  };
}
