/**
 * The embedded storage's public face. Browsers get presigned URLs pointing at
 * the coordinator itself (`http://HOST:PORT/storage/<key>?X-Amz-…`); this
 * sub-app checks each signature and streams the request to s3rver on
 * 127.0.0.1, which checks none.
 *
 * Mount it where the bucket's path-style URLs land, i.e. at `/${bucket}`:
 *   app.route('/storage', createStorageGateway({ bucket: 'storage', … }))
 * After app.route() the sub-app's handlers see the full path (`/storage/…`),
 * which is also exactly what was signed, so nothing is stripped.
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Hono, type Context } from 'hono';
import type { Logger } from '../logger.js';
import { createPresignVerifier } from './presign-verifier.js';
import { MAX_BYTES_PARAM } from './s3-storage.js';

export interface StorageGatewayOptions {
  readonly bucket: string;
  /** s3rver's address, e.g. http://127.0.0.1:39361 */
  readonly upstream: URL;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  readonly logger: Logger;
  /** Largest PUT body accepted; default 1 GiB. */
  readonly maxBodyBytes?: number;
}

const REQUEST_HEADERS = [
  'range',
  'content-type',
  'content-length',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
];
const RESPONSE_HEADERS = [
  'etag',
  'content-length',
  'content-range',
  'accept-ranges',
  'content-type',
  'last-modified',
  'content-disposition',
  'cache-control',
];

export function createStorageGateway(opts: StorageGatewayOptions): Hono {
  const log = opts.logger.child({ component: 'storage-gateway' });
  const maxBodyBytes = opts.maxBodyBytes ?? 1024 ** 3;
  const verify = createPresignVerifier(opts);
  const app = new Hono();

  // The signature is the authorization, so any origin may use a valid URL;
  // refusals carry these headers too, so a page can read why it was refused.
  app.use('*', async (c, next) => {
    await next();
    const origin = c.req.header('origin');
    c.res.headers.set('Access-Control-Allow-Origin', origin ?? '*');
    if (origin) c.res.headers.append('Vary', 'Origin');
    c.res.headers.set('Access-Control-Expose-Headers', 'ETag, Content-Length, Content-Range, Accept-Ranges');
    // Pages under COEP require-corp (ffmpeg core-mt, docs/facts.md "ffmpeg.wasm") also load
    // media in no-cors mode (<video src>), which needs CORP rather than CORS.
    c.res.headers.set('Cross-Origin-Resource-Policy', 'cross-origin');
    // Objects are served from the coordinator's own origin, the dashboard's,
    // and a tab chooses the Content-Type of what it PUTs: never let one be
    // sniffed or run as a page there (stored XSS). Media elements ignore this.
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set(
      'Content-Security-Policy',
      "default-src 'none'; sandbox; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    // Neither framed nor leaking its own presigned URL to whatever a document might link to.
    c.res.headers.set('X-Frame-Options', 'DENY');
    c.res.headers.set('Referrer-Policy', 'no-referrer');
  });

  app.options('*', (c) => {
    c.header('Access-Control-Allow-Methods', 'GET, HEAD, PUT');
    c.header('Access-Control-Allow-Headers', 'Content-Type, Range');
    c.header('Access-Control-Max-Age', '600');
    return c.body(null, 204);
  });

  const refuse = (c: Context, status: 403 | 411 | 413 | 502, code: string, message: string, extra: object = {}) => {
    // Only names and reasons: the query (signature, credential) is never logged.
    log.info(
      { status, code, method: c.req.method, path: pathOf(c.req.url), origin: c.req.header('origin'), ...extra, reason: message },
      'storage request refused',
    );
    return c.json({ error: { code, message } }, status);
  };

  app.on(['GET', 'HEAD', 'PUT'], '*', async (c) => {
    const { path, query } = splitUrl(c.req.url);
    const verdict = await verify({
      method: c.req.method,
      host: c.req.header('host') ?? new URL(c.req.url).host,
      rawPath: path,
      rawQuery: query,
    });
    if (!verdict.ok) return refuse(c, 403, verdict.code, verdict.message, { key: verdict.key });
    // s3rver maps keys straight onto paths under its data dir (path.join), so
    // a `..` segment would leave it. Our keys never have one; a signed URL for
    // one means a bug upstream, not something to serve.
    if (verdict.key.split('/').some((seg) => seg === '..' || seg === '.')) {
      return refuse(c, 403, 'bad_key', 'keys with "." or ".." segments are not served', { key: verdict.key });
    }

    const headers: http.OutgoingHttpHeaders = {};
    for (const name of REQUEST_HEADERS) {
      const value = c.req.header(name);
      if (value !== undefined) headers[name] = value;
    }
    const isPut = c.req.method === 'PUT';
    if (isPut) {
      // Browsers send Content-Length for every Blob/ArrayBuffer body, and S3
      // itself refuses a PUT without one (411 MissingContentLength). Node's
      // HTTP parser then ends the body at that length, so checking the header
      // bounds the bytes that can reach s3rver.
      const length = Number(c.req.header('content-length') ?? NaN);
      if (!Number.isSafeInteger(length) || length < 0)
        return refuse(c, 411, 'length_required', 'PUT needs a Content-Length', { key: verdict.key });
      if (length > maxBodyBytes)
        return refuse(c, 413, 'too_large', `body of ${length} bytes exceeds the ${maxBodyBytes}-byte limit`, { key: verdict.key });
      // The coordinator signs a limit into each segment URL: what a segment of
      // that rung and chunk can plausibly weigh (scheduler/segment-limits.ts).
      // Every query parameter of a verified URL is signed, and none repeats, so this one is the coordinator's.
      const signedLimit = new RegExp(`(?:^|&)${MAX_BYTES_PARAM}=([^&]*)`).exec(query)?.[1];
      if (signedLimit !== undefined) {
        const limit = /^[0-9]{1,15}$/.test(signedLimit) ? Number(signedLimit) : NaN;
        if (!(length <= limit)) {
          return refuse(c, 413, 'too_large', `body of ${length} bytes exceeds this URL's limit of ${signedLimit} bytes`, {
            key: verdict.key,
          });
        }
      }
    }

    let upstream: http.IncomingMessage;
    try {
      // The verified query goes along verbatim: s3rver applies response-*
      // overrides only to signed requests, and re-checks key and expiry itself.
      // Path as received too: a URL object would re-normalise it.
      upstream = await forward(
        opts.upstream,
        `${path}${query ? `?${query}` : ''}`,
        c.req.method,
        headers,
        isPut ? requestBody(c) : undefined,
      );
    } catch (err) {
      if (c.req.raw.signal.aborted) {
        // The browser went away mid-upload; the embedded store drops the partial object.
        log.info({ method: c.req.method, key: verdict.key }, 'storage client aborted');
      } else {
        log.warn({ err, method: c.req.method, key: verdict.key }, 'storage upstream failed');
      }
      return c.json({ error: { code: 'storage_unavailable', message: 'storage is unavailable' } }, 502);
    }

    const out = new Headers();
    for (const name of RESPONSE_HEADERS) {
      const value = upstream.headers[name];
      if (typeof value === 'string') out.set(name, value);
    }
    const status = upstream.statusCode ?? 502;
    log.debug({ method: c.req.method, key: verdict.key, status }, 'storage request');
    // Response() throws if given a body with 204/304 (e.g. an If-None-Match hit).
    if (c.req.method === 'HEAD' || status === 204 || status === 304) {
      upstream.resume();
      return new Response(null, { status, headers: out });
    }
    return new Response(Readable.toWeb(upstream) as ReadableStream<Uint8Array>, { status, headers: out });
  });

  app.all('*', (c) => {
    c.header('Allow', 'GET, HEAD, PUT, OPTIONS');
    return c.json({ error: { code: 'method_not_allowed', message: `${c.req.method} is not served by storage` } }, 405);
  });

  return app;
}

/**
 * The PUT body as a Node stream. Under @hono/node-server that is the
 * IncomingMessage itself (c.env.incoming), untouched by any web-stream
 * conversion; elsewhere (app.request() in tests) the web body, converted.
 */
function requestBody(c: Context): Readable | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (incoming instanceof Readable) return incoming;
  const body = c.req.raw.body;
  return body ? Readable.fromWeb(body as WebReadableStream<Uint8Array>) : undefined;
}

/**
 * One request to s3rver with node:http, not fetch: Node 20's fetch does not
 * apply backpressure to a streamed request body. Measured through this
 * gateway: a 400 MB PUT peaked at 536 MiB RSS (800 MB: 945 MiB) with fetch;
 * a bare node:http pipe of the same 400 MB peaked at 118 MiB.
 */
function forward(
  upstream: URL,
  pathAndQuery: string,
  method: string,
  headers: http.OutgoingHttpHeaders,
  body: Readable | undefined,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: upstream.hostname, port: upstream.port || 80, path: pathAndQuery, method, headers }, resolve);
    req.once('error', reject);
    if (!body) {
      req.end();
      return;
    }
    // A client that drops mid-upload errors the body; pipeline then destroys
    // the upstream request so s3rver sees the abort instead of waiting.
    pipeline(body, req).catch((err: unknown) => req.destroy(err instanceof Error ? err : new Error(String(err))));
  });
}

/** Path and query exactly as sent (no decoding), from an absolute URL string. */
function splitUrl(url: string): { path: string; query: string } {
  const afterScheme = url.indexOf('//');
  const pathStart = url.indexOf('/', afterScheme + 2);
  const rest = pathStart === -1 ? '/' : url.slice(pathStart);
  const hash = rest.indexOf('#');
  const noHash = hash === -1 ? rest : rest.slice(0, hash);
  const q = noHash.indexOf('?');
  return q === -1 ? { path: noHash, query: '' } : { path: noHash.slice(0, q), query: noHash.slice(q + 1) };
}

function pathOf(url: string): string {
  return splitUrl(url).path;
}
