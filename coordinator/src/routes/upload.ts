/**
 * Receiving a source over HTTP:
 * - receiveUpload streams a multipart upload's `file` field to a temporary
 *   file on disk (never whole in memory), enforcing MAX_UPLOAD_BYTES, a
 *   minimum rate over each window (UPLOAD_MIN_BYTES_PER_SECOND over
 *   UPLOAD_RATE_WINDOW_SECONDS) and a time limit (UPLOAD_TIMEOUT_SECONDS),
 *   and collects the small text fields next to it;
 * - readJsonBody reads a small JSON body (a URL submission) with a size cap
 *   and a deadline, where a framework's body parser would buffer any size;
 * - UploadSlots caps how many sources are received at once
 *   (MAX_CONCURRENT_UPLOADS): each holds a connection, disk space and, at
 *   intake, an ffprobe run. Over it the answer is 503 with Retry-After.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import type { Config } from '../config.js';
import {
  BusyError,
  InvalidRequestError,
  InvalidSourceError,
  RequestTimeoutError,
  TooLargeError,
  UnsupportedMediaTypeError,
} from '../errors.js';
import type { ReceivedSource } from '../jobs/intake.js';
import { watchTransfer } from '../jobs/transfer-watch.js';

const MAX_FIELD_BYTES = 4096;

export interface UploadOptions {
  readonly tmpDir: string;
  readonly maxBytes: number;
  /** 0: no minimum. */
  readonly minBytesPerSecond: number;
  readonly rateWindowMs: number;
  readonly timeoutMs: number;
}

/** The upload limits a coordinator's configuration gives. */
export function uploadOptions(config: Config, tmpDir: string): UploadOptions {
  return {
    tmpDir,
    maxBytes: config.maxUploadBytes,
    minBytesPerSecond: config.uploads.minBytesPerSecond,
    rateWindowMs: config.uploads.rateWindowSeconds * 1000,
    timeoutMs: config.uploads.timeoutSeconds * 1000,
  };
}

/** How many sources are being received at once; acquire() refuses one over the limit. */
export class UploadSlots {
  private inUse = 0;

  constructor(
    readonly max: number,
    /** What Retry-After says: about how long a slot takes to free up. */
    readonly retryAfterSeconds = 30,
  ) {}

  /** A slot, or BusyError (503 + Retry-After). Call the returned function once, when the request is done. */
  acquire(): () => void {
    if (this.inUse >= this.max) {
      throw new BusyError(
        `the coordinator is already receiving ${this.max} uploads, its limit (MAX_CONCURRENT_UPLOADS); try again in ${this.retryAfterSeconds} seconds`,
        this.retryAfterSeconds,
      );
    }
    this.inUse++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
    };
  }

  get active(): number {
    return this.inUse;
  }
}

/** What the readers below need of a request: its headers and its body as a Node stream. */
export type RequestStream = Readable & { readonly headers: IncomingHttpHeaders };

/**
 * The request as a Node stream: node-server's own IncomingMessage (whose
 * socket the server's timeouts watch), or, where there is none (the app
 * called with `app.request` in tests, another runtime), the web Request's body.
 */
export function requestStreamOf(incoming: IncomingMessage | undefined, request: Request): RequestStream {
  if (incoming) return incoming;
  const body = request.body ? Readable.fromWeb(request.body as WebReadableStream<Uint8Array>) : Readable.from([]);
  return Object.assign(body, { headers: Object.fromEntries(request.headers) as IncomingHttpHeaders });
}

export async function receiveUpload(req: RequestStream, opts: UploadOptions): Promise<ReceivedSource> {
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.startsWith('multipart/form-data')) {
    throw new UnsupportedMediaTypeError('send the video as multipart/form-data with the field "file"');
  }
  await mkdir(opts.tmpDir, { recursive: true });
  const tmp = path.join(opts.tmpDir, `${randomUUID()}.upload`);
  const fields: Record<string, string> = {};
  let file: { filename: string; size: number; truncated: boolean } | undefined;
  let writing: Promise<void> | undefined;
  let stop: (() => void) | undefined;

  try {
    await new Promise<void>((resolve, reject) => {
      let bb: busboy.Busboy;
      try {
        bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: opts.maxBytes, fields: 20, fieldSize: MAX_FIELD_BYTES } });
      } catch (err) {
        reject(new InvalidRequestError(`malformed multipart request: ${(err as Error).message}`));
        return;
      }
      const watch = watchTransfer({
        minBytesPerSecond: opts.minBytesPerSecond,
        windowMs: opts.rateWindowMs,
        timeoutMs: opts.timeoutMs,
        what: 'the upload',
        error: (message) => new RequestTimeoutError(message),
        onLimit: (err) => {
          // Stop reading: the answer goes out with Connection: close (routes/http-errors.ts), which ends the socket.
          req.unpipe(bb);
          req.pause();
          bb.destroy();
          reject(err);
        },
      });
      stop = () => watch.stop();
      req.on('data', (d: Buffer) => watch.add(d.length));
      bb.on('file', (name, stream, info) => {
        if (name !== 'file' || file) {
          stream.resume();
          return;
        }
        const entry = { filename: info.filename || 'upload', size: 0, truncated: false };
        file = entry;
        stream.on('data', (d: Buffer) => (entry.size += d.length));
        stream.on('limit', () => (entry.truncated = true));
        writing = pipeline(stream, createWriteStream(tmp));
        writing.catch(reject);
      });
      bb.on('field', (name, value) => (fields[name] = value));
      bb.on('error', (err) => reject(new InvalidRequestError(`malformed multipart request: ${(err as Error).message}`)));
      bb.on('close', resolve);
      req.on('aborted', () => reject(new InvalidRequestError('the upload was interrupted')));
      req.pipe(bb);
    });
    await writing;
    if (!file) throw new InvalidRequestError('no file: send the video in the multipart field "file"');
    const f = file as { filename: string; size: number; truncated: boolean };
    if (f.truncated) throw new TooLargeError(`the file is larger than the limit of ${opts.maxBytes} bytes (MAX_UPLOAD_BYTES)`);
    if (f.size === 0) throw new InvalidSourceError('the file is empty (0 bytes); it is not a video');
    return { path: tmp, filename: f.filename, size: f.size, fields };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    stop?.();
  }
}

/**
 * readJsonBody(req, { maxBytes, timeoutMs }) → the parsed body, or null when
 * it is not JSON. Over maxBytes: TooLargeError; not complete within
 * timeoutMs: RequestTimeoutError.
 */
export function readJsonBody(req: RequestStream, opts: { maxBytes: number; timeoutMs: number }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err: Error | null, value?: unknown) => {
      clearTimeout(timer);
      req.off('data', onData);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(value);
    };
    const timer = setTimeout(
      () => finish(new RequestTimeoutError(`the request body did not arrive within ${Math.round(opts.timeoutMs / 1000)} s`)),
      opts.timeoutMs,
    );
    const onData = (d: Buffer) => {
      size += d.length;
      if (size > opts.maxBytes) finish(new TooLargeError(`the JSON body is larger than ${opts.maxBytes} bytes; send { "url": "…" } only`));
      else chunks.push(d);
    };
    req.on('data', onData);
    req.once('end', () => {
      try {
        finish(null, JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        finish(null, null);
      }
    });
    req.once('aborted', () => finish(new InvalidRequestError('the request was interrupted')));
    req.once('error', (err) => finish(new InvalidRequestError(`the request broke off: ${err.message}`)));
  });
}
