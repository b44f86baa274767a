/**
 * A source given as a URL: downloaded on the server into the same shape as
 * a multipart upload (a temp file + name), then probed like one. Only http
 * and https; the body is streamed to disk and cut off at MAX_UPLOAD_BYTES;
 * the whole download has a time limit. A web page (text/html) goes through
 * yt-dlp when it is on PATH, and is refused in words when it is not.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidRequestError, InvalidSourceError, TooLargeError } from '../errors.js';
import type { ReceivedSource } from './intake.js';

export interface DownloadOptions {
  readonly tmpDir: string;
  readonly maxBytes: number;
  readonly timeoutMs?: number;
  /** yt-dlp binary; null turns the web-page path off. */
  readonly ytDlp?: string | null;
}

const DEFAULT_TIMEOUT_MS = 15 * 60_000;

export function parseSourceUrl(raw: unknown): URL {
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    throw new InvalidRequestError('url: not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidRequestError(`url: only http and https are accepted, not ${url.protocol.replace(':', '')}`);
  }
  return url;
}

function filenameOf(url: URL): string {
  const base = decodeURIComponent(url.pathname.split('/').pop() ?? '').replace(/[^\w.\- ]/g, '_');
  return base || url.hostname;
}

export async function downloadSource(url: URL, opts: DownloadOptions): Promise<ReceivedSource> {
  await mkdir(opts.tmpDir, { recursive: true });
  const tmp = path.join(opts.tmpDir, `${randomUUID()}.download`);
  const signal = AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const tooLarge = () => new TooLargeError(`the file is larger than the limit of ${opts.maxBytes} bytes (MAX_UPLOAD_BYTES)`);
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal, redirect: 'follow' });
    } catch (err) {
      throw new InvalidSourceError(`could not download ${url.href}: ${signal.aborted ? 'timed out' : (err as Error).message}`, {
        cause: err,
      });
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new InvalidSourceError(`could not download ${url.href}: HTTP ${res.status}`);
    }
    const type = res.headers.get('content-type') ?? '';
    if (type.startsWith('text/html')) {
      await res.body.cancel();
      if (!opts.ytDlp)
        throw new InvalidSourceError(`${url.href} is a web page, not a video file (yt-dlp is not installed to fetch the video from it)`);
      return await viaYtDlp(url, tmp, opts, signal);
    }
    const declared = Number(res.headers.get('content-length'));
    if (declared > opts.maxBytes) {
      await res.body.cancel();
      throw tooLarge();
    }
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > opts.maxBytes) done(tooLarge());
        else done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), limit, createWriteStream(tmp), { signal });
    } catch (err) {
      if (err instanceof TooLargeError) throw err;
      throw new InvalidSourceError(`could not download ${url.href}: ${signal.aborted ? 'timed out' : (err as Error).message}`, {
        cause: err,
      });
    }
    return { path: tmp, filename: filenameOf(url), size, fields: {} };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** yt-dlp into a folder of its own; its one output file becomes the upload. */
async function viaYtDlp(url: URL, tmp: string, opts: DownloadOptions, signal: AbortSignal): Promise<ReceivedSource> {
  const dir = `${tmp}.d`;
  await mkdir(dir, { recursive: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        opts.ytDlp!,
        [
          '--no-playlist',
          '--max-filesize',
          String(opts.maxBytes),
          '-f',
          'bv*+ba/b',
          '-o',
          path.join(dir, 'source.%(ext)s'),
          '--',
          url.href,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'], signal },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(stderr.trim() || `yt-dlp exit code ${code}`))));
    });
    const [name] = await readdir(dir);
    if (!name) throw new Error('yt-dlp wrote no file (over MAX_UPLOAD_BYTES?)');
    await rename(path.join(dir, name), tmp);
    return { path: tmp, filename: `${filenameOf(url)}${path.extname(name)}`, size: (await stat(tmp)).size, fields: {} };
  } catch (err) {
    throw new InvalidSourceError(`could not fetch a video from ${url.href}: ${(err as Error).message}`, { cause: err });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The path of an executable on PATH, or null. */
export function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}
