/**
 * What the coordinator needs from object storage. One implementation
 * (`S3Storage`, the minio client) serves both MinIO/S3 in production and the
 * embedded S3-compatible server; only where presigned URLs point differs.
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  readonly size: number;
}

export interface Storage {
  readonly bucket: string;
  /** Creates the bucket if it does not exist yet. */
  ensureBucket(): Promise<void>;
  /** Answers when storage is reachable; throws otherwise. */
  ping(): Promise<void>;
  putFile(key: string, filePath: string, contentType: string): Promise<ObjectInfo>;
  /** Streams `size` bytes from `body`; never buffers the whole object. */
  putStream(key: string, body: Readable, size: number, contentType: string): Promise<void>;
  putBuffer(key: string, body: Buffer, contentType: string): Promise<void>;
  getToFile(key: string, filePath: string): Promise<void>;
  getBuffer(key: string): Promise<Buffer>;
  /** null when the object does not exist. */
  stat(key: string): Promise<ObjectInfo | null>;
  remove(key: string): Promise<void>;
  /** Removes every object whose key starts with `prefix`. */
  removePrefix(prefix: string): Promise<number>;
  list(prefix: string): Promise<string[]>;
  /** A URL a browser can GET `key` with, until it expires. */
  presignGet(key: string, expiresSeconds: number): Promise<string>;
  /**
   * A URL a browser can PUT `key` with (that key, that method only), until it
   * expires. `maxBytes` is signed into the URL; the embedded storage's gateway
   * refuses a larger body. An external S3 does not enforce it (a presigned PUT
   * cannot carry a size range), so what was uploaded is checked afterwards.
   */
  presignPut(key: string, expiresSeconds: number, opts?: { maxBytes?: number }): Promise<string>;
}
