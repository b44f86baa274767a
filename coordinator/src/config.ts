/**
 * Coordinator configuration, read from the environment once at start and
 * validated: a bad value stops the process with a message naming the variable.
 */
import path from 'node:path';
import { z } from 'zod';
import { parseRenditionList, type RenditionName } from '@tabgrid/shared';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

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
    MAX_DURATION_SECONDS: positiveInt.default(4 * 3600),
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
    try {
      parseRenditionList(env.RENDITIONS);
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['RENDITIONS'], message: (e as Error).message });
    }
  });

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
  readonly disconnectGraceSeconds: number;
  readonly failpoints: ReadonlyMap<string, number>;
  readonly renditions: RenditionName[];
  readonly chunkSeconds: number;
  readonly maxUploadBytes: number;
  readonly maxDurationSeconds: number;
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
  readonly logLevel: string;
  /** Reverse proxies of ours in front (0: the socket's address is the client's). */
  readonly trustProxy: number;
  readonly ws: WsLimits;
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
  };
}
