/**
 * A source given as a URL: downloaded on the server into the same shape as
 * a multipart upload (a temp file + name), then probed like one. Only http
 * and https, only from public addresses (source-address.ts): the name is
 * resolved here, every address checked, and the connection made to the
 * address that was checked; redirects are followed here too, at most
 * MAX_REDIRECTS, each hop checked the same way. The body is streamed to disk,
 * cut off at MAX_UPLOAD_BYTES, under the same minimum rate as uploads, and
 * the whole download has a time limit.
 *
 * A web page (text/html) goes through yt-dlp only when ALLOW_YT_DLP=true and
 * yt-dlp is on PATH: yt-dlp resolves and connects by itself, to whatever the
 * page names, so it cannot be held to public addresses. Only the page's own
 * URL has been checked when it starts. Enable it only where the
 * coordinator's network has nothing private to reach.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config.js';
import { InvalidRequestError, InvalidSourceError, TooLargeError } from '../errors.js';
import { findOnPath, runTool } from '../media/tools.js';
import type { ReceivedSource } from './intake.js';
import { type PrivateAddresses, pickSourceAddress, type ResolvedAddress, type Resolver, unreachableSource } from './source-address.js';
import { watchTransfer } from './transfer-watch.js';

export interface DownloadOptions {
  readonly tmpDir: string;
  readonly maxBytes: number;
  readonly timeoutMs?: number;
  /** yt-dlp binary; null (the default) turns the web-page path off. */
  readonly ytDlp?: string | null;
  /** Addresses allowed besides public ones (ALLOW_PRIVATE_SOURCE_URLS); none by default. */
  readonly allowPrivate?: PrivateAddresses;
  /** Name → addresses; the system's resolver unless a test injects one. */
  readonly resolve?: Resolver;
  /** The body must arrive at this average rate over each window (UPLOAD_MIN_BYTES_PER_SECOND; 0: no minimum). */
  readonly minBytesPerSecond?: number;
  readonly rateWindowMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15 * 60_000;
/** A server that does not answer a request's headers within this is unreachable. */
const ANSWER_TIMEOUT_MS = 30_000;
export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The download options a coordinator's configuration gives (routes/jobs.ts). */
export function sourceDownloadOptions(config: Config, tmpDir: string): DownloadOptions {
  return {
    tmpDir,
    maxBytes: config.maxUploadBytes,
    ytDlp: config.sourceUrls.allowYtDlp ? findOnPath('yt-dlp') : null,
    allowPrivate: config.sourceUrls.allowPrivate,
    minBytesPerSecond: config.uploads.minBytesPerSecond,
    rateWindowMs: config.uploads.rateWindowSeconds * 1000,
  };
}

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
  let last = url.pathname.split('/').pop() ?? '';
  try {
    last = decodeURIComponent(last);
  } catch {
    // a stray % stays as it is
  }
  return last.replace(/[^\w.\- ]/g, '_') || url.hostname;
}

const portOf = (url: URL) => Number(url.port || (url.protocol === 'https:' ? 443 : 80));

/** One GET to the checked address (never a second lookup); resolves with the answer's head. */
function requestOnce(url: URL, to: ResolvedAddress, signal: AbortSignal): Promise<IncomingMessage> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const pinned: LookupFunction = (_name, options, callback) => {
    if (options.all) callback(null, [{ address: to.address, family: to.family }]);
    else callback(null, to.address, to.family);
  };
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      {
        host,
        port: portOf(url),
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { 'user-agent': 'tabgrid-source-download', accept: '*/*' },
        agent: false,
        lookup: pinned,
        signal,
        // TLS checks the certificate against the name, as a browser would.
        ...(url.protocol === 'https:' && !isIP(host) ? { servername: host } : {}),
      },
      (res) => {
        // From here the overall signal and the minimum rate bound the body.
        clearTimeout(noAnswer);
        resolve(res);
      },
    );
    const noAnswer = setTimeout(() => req.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(noAnswer);
      reject(err);
    });
    req.end();
  });
}

/** Follows redirects itself, checking every hop's address; the final answer and where it came from. */
async function fetchChecked(url: URL, opts: DownloadOptions, signal: AbortSignal): Promise<{ res: IncomingMessage; url: URL }> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const to = await pickSourceAddress(current.hostname, portOf(current), opts);
    let res: IncomingMessage;
    try {
      res = await requestOnce(current, to, signal);
    } catch (err) {
      throw unreachableSource(err);
    }
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || !location) return { res, url: current };
    res.destroy();
    if (hop >= MAX_REDIRECTS) throw new InvalidSourceError(`could not download the URL: more than ${MAX_REDIRECTS} redirects`);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new InvalidSourceError('could not download the URL: it redirects to an invalid URL');
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new InvalidSourceError('could not download the URL: it redirects to a URL that is not http or https');
    }
    current = next;
  }
}

export async function downloadSource(url: URL, opts: DownloadOptions): Promise<ReceivedSource> {
  await mkdir(opts.tmpDir, { recursive: true });
  const tmp = path.join(opts.tmpDir, `${randomUUID()}.download`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const tooLarge = () => new TooLargeError(`the file is larger than the limit of ${opts.maxBytes} bytes (MAX_UPLOAD_BYTES)`);
  const timedOut = () => new InvalidSourceError(`could not download the URL: timed out after ${Math.round(timeoutMs / 100) / 10} s`);
  try {
    const { res, url: finalUrl } = await fetchChecked(url, opts, signal);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      res.destroy();
      throw new InvalidSourceError(`could not download the URL: the server answered HTTP ${status}`);
    }
    const type = res.headers['content-type'] ?? '';
    if (type.startsWith('text/html')) {
      res.destroy();
      if (!opts.ytDlp) {
        throw new InvalidSourceError(
          `${url.href} is a web page, not a video file (fetching videos from web pages with yt-dlp is not enabled on this coordinator: ALLOW_YT_DLP)`,
        );
      }
      return await viaYtDlp(finalUrl, tmp, opts, timeoutMs);
    }
    const declared = Number(res.headers['content-length']);
    if (declared > opts.maxBytes) {
      res.destroy();
      throw tooLarge();
    }
    let size = 0;
    let stalled: Error | undefined;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        watch.add(chunk.length);
        if (size > opts.maxBytes) done(tooLarge());
        else done(null, chunk);
      },
    });
    const watch = watchTransfer({
      minBytesPerSecond: opts.minBytesPerSecond ?? 0,
      windowMs: opts.rateWindowMs ?? 30_000,
      // The download's own time limit (`signal`) bounds the whole.
      what: 'the server',
      error: (message) => new InvalidSourceError(`could not download the URL: ${message}`),
      onLimit: (err) => {
        stalled = err;
        limit.destroy(err);
      },
    });
    try {
      await pipeline(res, limit, createWriteStream(tmp), { signal });
    } catch (err) {
      if (err instanceof TooLargeError) throw err;
      if (stalled) throw stalled;
      if (signal.aborted) throw timedOut();
      throw new InvalidSourceError(`could not download the URL: the connection broke off (${(err as Error).message})`, { cause: err });
    } finally {
      watch.stop();
    }
    return { path: tmp, filename: filenameOf(finalUrl), size, fields: {} };
  } catch (err) {
    await rm(tmp, { force: true });
    if (signal.aborted && !(err instanceof TooLargeError) && !(err instanceof InvalidSourceError)) throw timedOut();
    throw err;
  }
}

/** yt-dlp into a folder of its own, bounded like every native tool; its one output file becomes the upload. */
async function viaYtDlp(url: URL, tmp: string, opts: DownloadOptions, timeoutMs: number): Promise<ReceivedSource> {
  const dir = `${tmp}.d`;
  await mkdir(dir, { recursive: true });
  try {
    await runTool(
      opts.ytDlp!,
      [
        '--quiet',
        '--no-progress',
        '--no-playlist',
        '--socket-timeout',
        '30',
        '--max-filesize',
        String(opts.maxBytes),
        '-f',
        'bv*+ba/b',
        '-o',
        path.join(dir, 'source.%(ext)s'),
        '--',
        url.href,
      ],
      { timeoutMs, maxOutputBytes: 1024 * 1024 },
    );
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
