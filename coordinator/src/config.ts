/**
 * Coordinator configuration, read from the environment once at start and
 * validated: a bad value stops the process with a message naming the variable.
 */
import { isIP } from 'node:net';
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
  });

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
    adminToken: e.ADMIN_TOKEN,
    sessionTtlSeconds: e.SESSION_TTL_HOURS * 3600,
  };
}
