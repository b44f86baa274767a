/**
 * Streams a multipart upload's `file` field to a temporary file on disk
 * (never whole in memory), enforcing MAX_UPLOAD_BYTES, and collects the
 * small text fields next to it.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { ReceivedSource } from '../jobs/intake.js';
import { InvalidRequestError, InvalidSourceError, TooLargeError, UnsupportedMediaTypeError } from '../errors.js';

const MAX_FIELD_BYTES = 4096;

export async function receiveUpload(req: IncomingMessage, opts: { tmpDir: string; maxBytes: number }): Promise<ReceivedSource> {
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.startsWith('multipart/form-data')) {
    throw new UnsupportedMediaTypeError('send the video as multipart/form-data with the field "file"');
  }
  await mkdir(opts.tmpDir, { recursive: true });
  const tmp = path.join(opts.tmpDir, `${randomUUID()}.upload`);
  const fields: Record<string, string> = {};
  let file: { filename: string; size: number; truncated: boolean } | undefined;
  let writing: Promise<void> | undefined;

  try {
    await new Promise<void>((resolve, reject) => {
      let bb: busboy.Busboy;
      try {
        bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: opts.maxBytes, fields: 20, fieldSize: MAX_FIELD_BYTES } });
      } catch (err) {
        reject(new InvalidRequestError(`malformed multipart request: ${(err as Error).message}`));
        return;
      }
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
  }
}
