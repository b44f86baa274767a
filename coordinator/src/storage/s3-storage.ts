/**
 * `Storage` on the minio client. The same code serves an external S3/MinIO
 * and the embedded s3rver; only the public endpoint that presigned URLs carry
 * differs (the S3 server itself, or the coordinator's verifying gateway).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat as fsStat } from 'node:fs/promises';
import { pipeline as pipelineCb, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, type ClientOptions } from 'minio';
import { PermanentError, RetryableError } from '../errors.js';
import type { ObjectInfo, Storage } from './storage.js';

export interface S3StorageOptions {
  /** Where the coordinator itself reaches S3. */
  readonly endpoint: URL;
  /**
   * Where browsers reach S3; read at every presign because in embedded mode it
   * is the coordinator's own address, known only after listen().
   */
  readonly publicEndpoint: () => URL;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
  readonly region: string;
  /**
   * Multipart part size, min 5 MiB. minio holds one part in memory per upload
   * and sends objects up to this size in a single PUT; its default is 64 MiB.
   */
  readonly partSize?: number;
  /**
   * Sign `presignPut`'s maxBytes into the URL (MAX_BYTES_PARAM). Only for the
   * embedded storage, whose gateway enforces it; an external S3 would only
   * carry an unknown parameter.
   */
  readonly signsPutLimits?: boolean;
}

/**
 * Query parameter carrying a presigned PUT's size limit. Signed like every
 * other parameter, so only the coordinator can set it; the embedded storage's
 * gateway enforces it.
 */
export const MAX_BYTES_PARAM = 'x-tabgrid-max-bytes';

/** S3's limit for presigned URLs: 7 days. */
export const MAX_PRESIGN_SECONDS = 604_800;

/** minio client options for an endpoint URL; shared with the presign verifier. */
export function minioClientOptions(url: URL, creds: { accessKey: string; secretKey: string; region: string }): ClientOptions {
  const useSSL = url.protocol === 'https:';
  if (!useSSL && url.protocol !== 'http:') throw new PermanentError('bad_endpoint', `unsupported scheme in ${url.origin}`);
  return {
    // WHATWG URL keeps IPv6 brackets in hostname; minio adds its own.
    endPoint: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: creds.accessKey,
    secretKey: creds.secretKey,
    // With region set minio presigns offline; without it, it first asks the
    // endpoint for the bucket's location (docs/facts.md, "Storage").
    region: creds.region,
    // Virtual-host style cannot work with IP endpoints or our /storage gateway.
    pathStyle: true,
  };
}

export function createS3Storage(opts: S3StorageOptions): Storage {
  const { bucket, region } = opts;
  const creds = { accessKey: opts.accessKey, secretKey: opts.secretKey, region };
  const client = new Client({
    ...minioClientOptions(opts.endpoint, creds),
    ...(opts.partSize ? { partSize: opts.partSize } : {}),
  });

  // One signer per distinct public origin: the getter may change its answer
  // once (embedded mode, after listen) and clients are cheap but not free.
  const signers = new Map<string, Client>();
  const signer = (): Client => {
    const url = opts.publicEndpoint();
    if (url.pathname !== '/' && url.pathname !== '') {
      // minio signs host and `/{bucket}/{key}` only; a path prefix would be
      // dropped from the URL and the signature, and the request would miss.
      throw new PermanentError('bad_endpoint', `public storage endpoint must have no path, got ${url.href}`);
    }
    let c = signers.get(url.origin);
    if (!c) {
      c = new Client(minioClientOptions(url, creds));
      signers.set(url.origin, c);
    }
    return c;
  };

  const putStream = async (key: string, body: Readable, size: number, contentType: string): Promise<void> => {
    if (!Number.isSafeInteger(size) || size < 0) throw new PermanentError('bad_size', `invalid size ${size} for ${key}`);
    // minio trusts `size` only to choose single PUT vs multipart; a stream that
    // yields more or fewer bytes would be stored silently as whatever came.
    // pipeline() (not pipe) so an error on either side destroys both.
    const checked = pipelineCb(body, exactLength(size, key), () => {});
    // minio's multipart path listens for errors on its own block stream only
    // (`body.pipe(chunkier).on('error')`), so a failing body would leave its
    // promise pending for ever: race it against the body's own failure.
    const bodyFailed = new Promise<never>((_, reject) => checked.once('error', reject));
    bodyFailed.catch(() => {});
    try {
      await wrap(`put ${key}`, () =>
        Promise.race([client.putObject(bucket, key, checked, size, { 'Content-Type': contentType }), bodyFailed]),
      );
    } finally {
      if (!checked.readableEnded) checked.destroy();
    }
  };

  const list = async (prefix: string): Promise<string[]> =>
    wrap(`list ${prefix}`, async () => {
      const names: string[] = [];
      for await (const item of client.listObjectsV2(bucket, prefix, true)) {
        if (item.name) names.push(item.name);
      }
      return names;
    });

  return {
    bucket,

    async ensureBucket() {
      await wrap(`create bucket ${bucket}`, async () => {
        if (await client.bucketExists(bucket)) return;
        try {
          await client.makeBucket(bucket, region);
        } catch (err) {
          // Two coordinators starting together both see "missing".
          if (!isCode(err, 'BucketAlreadyOwnedByYou', 'BucketAlreadyExists')) throw err;
        }
      });
    },

    async ping() {
      await wrap('ping', () => client.bucketExists(bucket));
    },

    async putFile(key, filePath, contentType) {
      const { size } = await fsStat(filePath);
      await putStream(key, createReadStream(filePath), size, contentType);
      return { size };
    },

    putStream,

    async putBuffer(key, body, contentType) {
      await wrap(`put ${key}`, () => client.putObject(bucket, key, body, body.length, { 'Content-Type': contentType }));
    },

    async getToFile(key, filePath) {
      try {
        await wrap(`get ${key}`, async () => pipeline(await client.getObject(bucket, key), createWriteStream(filePath)));
      } catch (err) {
        await rm(filePath, { force: true });
        throw err;
      }
    },

    async getBuffer(key) {
      return wrap(`get ${key}`, async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of await client.getObject(bucket, key)) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      });
    },

    async stat(key): Promise<ObjectInfo | null> {
      try {
        const s = await client.statObject(bucket, key);
        return { size: s.size };
      } catch (err) {
        // A HEAD 404 has no body, so minio reports 'NotFound', not 'NoSuchKey'.
        if (isCode(err, 'NotFound', 'NoSuchKey')) return null;
        throw asStorageError(`stat ${key}`, err);
      }
    },

    async remove(key) {
      await wrap(`remove ${key}`, () => client.removeObject(bucket, key));
    },

    async removePrefix(prefix) {
      if (prefix === '') throw new PermanentError('bad_prefix', 'refusing to remove every object in the bucket');
      const names = await list(prefix);
      if (names.length === 0) return 0;
      // minio batches DeleteObjects by 1000 keys itself and asks for a quiet
      // answer: every entry it returns is a key that was NOT removed.
      const failed = (await wrap(`remove ${prefix}*`, () => client.removeObjects(bucket, names))).filter((r) => r != null);
      if (failed.length > 0) {
        throw new RetryableError('storage_failed', `remove ${prefix}*: ${failed.length} objects not removed`, { cause: failed[0] });
      }
      return names.length;
    },

    list,

    async presignGet(key, expiresSeconds) {
      checkExpiry(expiresSeconds);
      return signer().presignedGetObject(bucket, key, expiresSeconds);
    },

    async presignPut(key, expiresSeconds, limits) {
      checkExpiry(expiresSeconds);
      if (limits?.maxBytes === undefined || !opts.signsPutLimits) return signer().presignedPutObject(bucket, key, expiresSeconds);
      if (!Number.isSafeInteger(limits.maxBytes) || limits.maxBytes < 1) {
        throw new PermanentError('bad_limit', `maxBytes must be a positive integer, got ${limits.maxBytes}`);
      }
      return signer().presignedUrl('PUT', bucket, key, expiresSeconds, { [MAX_BYTES_PARAM]: String(limits.maxBytes) });
    },
  };
}

/** minio turns 0 into 7 days and signs fractions as given (docs/facts.md, "Storage"); refuse both. */
function checkExpiry(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PRESIGN_SECONDS) {
    throw new PermanentError('bad_expiry', `presign expiry must be an integer in 1..${MAX_PRESIGN_SECONDS} s, got ${seconds}`);
  }
}

/** Passes bytes through and fails the stream unless exactly `size` went by. */
function exactLength(size: number, key: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > size) cb(new PermanentError('size_mismatch', `${key}: stream is longer than the declared ${size} bytes`));
      else cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (seen !== size) cb(new PermanentError('size_mismatch', `${key}: stream ended at ${seen} of ${size} bytes`));
      else cb();
    },
  });
}

function isCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}

/** Missing objects are permanent; anything else (network, 5xx) may pass on retry. */
function asStorageError(what: string, err: unknown): Error {
  if (err instanceof PermanentError || err instanceof RetryableError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const detail = `${what}: ${(err as Error)?.message ?? String(err)}`;
  if (isCode(err, 'NoSuchKey', 'NotFound', 'NoSuchBucket')) {
    return new PermanentError('storage_not_found', detail, { cause: err });
  }
  return new RetryableError('storage_failed', typeof code === 'string' ? `${detail} (${code})` : detail, { cause: err });
}

async function wrap<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asStorageError(what, err);
  }
}
