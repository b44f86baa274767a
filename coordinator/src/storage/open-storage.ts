/**
 * The coordinator's storage: an external S3/MinIO when S3_* is configured
 * (tabs reach it at S3_PUBLIC_ENDPOINT, and it checks signatures itself), or
 * the embedded S3 server under DATA_DIR. The embedded one listens on
 * loopback only and checks no signatures, so tabs reach it through the
 * coordinator's own origin, where a gateway verifies every presigned URL
 * (storage/gateway.ts).
 */
import type { Hono } from 'hono';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { startEmbeddedS3 } from './embedded-s3.js';
import { createStorageGateway } from './gateway.js';
import { createS3Storage } from './s3-storage.js';
import type { Storage } from './storage.js';

export interface OpenedStorage {
  readonly storage: Storage;
  /** The signature-checking gateway to mount on the coordinator's origin (embedded storage only). */
  readonly gateway?: { readonly path: string; readonly app: Hono };
  /** The embedded S3 server's own address (loopback, no signature checks): URL sources must never reach it. */
  readonly internalEndpoint?: URL;
  close(): Promise<void>;
}

/**
 * `publicOrigin` is where browsers reach this coordinator; with the embedded
 * storage, presigned URLs point at it. It is asked for only when a URL is
 * signed, after the server listens (the port may be chosen by the system).
 */
export async function openStorage(config: Config, logger: Logger, publicOrigin: () => URL): Promise<OpenedStorage> {
  if (config.s3) {
    const s3 = config.s3;
    const storage = createS3Storage({
      endpoint: s3.endpoint,
      publicEndpoint: () => s3.publicEndpoint,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      bucket: s3.bucket,
      region: s3.region,
    });
    await storage.ensureBucket();
    return { storage, close: async () => undefined };
  }
  const s3 = await startEmbeddedS3({ dataDir: config.dataDir, logger });
  try {
    const storage = createS3Storage({
      endpoint: s3.endpoint,
      publicEndpoint: publicOrigin,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      bucket: s3.bucket,
      region: s3.region,
      signsPutLimits: true,
    });
    await storage.ensureBucket();
    const app = createStorageGateway({
      bucket: s3.bucket,
      upstream: s3.endpoint,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      region: s3.region,
      logger,
    });
    return { storage, gateway: { path: `/${s3.bucket}`, app }, internalEndpoint: s3.endpoint, close: () => s3.close() };
  } catch (err) {
    await s3.close();
    throw err;
  }
}
